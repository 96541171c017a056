"""chirpstream's bundled broker: a Kafka-compatible broker in Python (asyncio).

Real Kafka clients talk to it unchanged. Layers, each importing only the ones before it:
``protocol`` (sans-IO wire format), ``storage`` (the segmented on-disk log), ``cluster``
(topics, partitions, metadata), ``net`` (sockets and one handler per API), and ``node``
(the composition root). ingest, consumers and dashboard never import this package: they
speak Kafka through a client library.
"""
