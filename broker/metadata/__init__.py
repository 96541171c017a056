"""The cluster's metadata: the records that change it and the immutable image they build.

``records`` holds the metadata records (Kafka's names and fields); ``image`` the
:class:`MetadataImage` that applying them yields, never changed in place; ``changes`` what a
new image asks of one node (lead, follow, delete); ``cache`` the image a broker serves from;
``topics`` the rules about topic names and configs. ``local_controller`` is the single node's
controller, the one writer of the image, persisted by ``store`` as ``cluster-metadata.json``
until ``broker.controller`` and the ``__cluster_metadata`` log take its place.

Imports ``broker.storage`` and nothing above it, but for ``local_controller``, which runs
``broker.controller``'s registration logic for the node itself. The controller writes
records; every other part reads images.
"""
