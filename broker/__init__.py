"""chirpstream's bundled broker: a Kafka-compatible broker in Python (asyncio).

Real Kafka clients talk to it unchanged. Layers, each importing only the ones before it:
``protocol`` (sans-IO wire format), ``storage`` (the segmented on-disk log), ``metadata``
(Kafka's metadata records, their log codec, the immutable image they build, and the publisher
that turns the committed metadata log into images), ``replica`` (each local partition as a
replica with a role, an ISR and a high watermark; the replica manager owns the logs),
``groups`` (consumer groups and committed offsets), ``net`` (sockets, one server per listener,
one handler per API, the outbound client and forwarding to the active controller),
``lifecycle`` (a cluster broker's registration and heartbeats), and ``node`` /
``cluster_node`` (the composition roots of a single node and of a cluster node, built by
``process.roles``). ``clock`` is the one clock and scheduler every timeout uses; ``raft`` is
the controller quorum's consensus and ``controller`` the control logic (the single node's and
the quorum's), which only ``net`` and the nodes import. ingest, consumers and dashboard never
import this package: they speak Kafka through a client library.
"""
