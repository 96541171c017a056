"""chirpstream's bundled broker: a Kafka-compatible broker in Python (asyncio).

Real Kafka clients talk to it unchanged. Layers, each importing only the ones before it:
``protocol`` (sans-IO wire format), ``storage`` (the segmented on-disk log), ``metadata``
(Kafka's metadata records, the immutable image they build, and the single node's controller
that writes it), ``replica`` (each local partition as a replica with a role, an ISR and a high
watermark; the replica manager owns the logs), ``groups`` (consumer groups and committed
offsets), ``net`` (sockets and one handler per API), and ``node`` (the composition root, built
by ``process.roles``). ``clock`` is the one clock and scheduler every timeout uses. ingest,
consumers and dashboard never import this package: they speak Kafka through a client library.
"""
