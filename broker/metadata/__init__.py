"""The cluster's metadata: the records that change it and the immutable image they build.

``records`` holds the metadata records (Kafka's names and fields); ``image`` the
:class:`MetadataImage` that applying them yields, never changed in place; ``changes`` what a
new image asks of one node (lead, follow, delete); ``cache`` the image a broker serves from;
``topics`` the rules about topic names and configs; ``codec`` the records as the bytes of one
``__cluster_metadata`` log entry (cluster mode); ``snapshot`` an image as a snapshot's bytes
and back, and when to take one (KIP-630); ``store`` the single node's
``cluster-metadata.json``.

Imports ``broker.storage`` and nothing above it. The controller (``broker.controller``) writes
records; every other part reads images.
"""
