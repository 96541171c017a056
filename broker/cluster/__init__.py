"""Cluster state: topics and their partitions, the metadata image, producer ids.

Owns what a Kafka controller and partition leader would track: topic names, ids and configs
(persisted as one atomically written JSON image), each partition's leader epoch and high
watermark, and the fetchers waiting for new data. Builds on ``broker.storage``; knows nothing
of sockets or the wire format. ``broker.net`` handlers call into it.
"""
