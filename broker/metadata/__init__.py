"""The cluster's metadata: the records that change it and the immutable image they build.

``records`` holds the metadata records (Kafka's names and fields); ``image`` the
:class:`MetadataImage` that applying them yields, never changed in place. Imports storage and
nothing above it; the controller writes records, every other part reads images.
"""
