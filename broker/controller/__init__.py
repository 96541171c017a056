"""The controller's logic: pure functions from the metadata image to (records, answer).

Modelled on Kafka's KRaft controller (``QuorumController``, ``ClusterControlManager``,
``ReplicationControlManager``, ``StripedReplicaPlacer``, ``PartitionChangeBuilder``): each
operation takes the current :class:`~broker.metadata.image.MetadataImage` (and ``now_ms``,
the offset its records will be written at, or a seeded ``random.Random`` where those matter)
and returns a :class:`~broker.controller.result.ControllerResult`: the metadata records to
append, and the answer to give once they are committed. Nothing but the two runtimes,
``local`` and ``quorum``, does I/O, awaits or reads a clock, so every rule runs in unit tests
on a manual clock.

- ``brokers``: registration, heartbeats and leases (fencing after
  ``broker.session.timeout.ms``, unfencing on catch-up), controlled shutdown.
- ``topics`` and ``placement``: CreateTopics, DeleteTopics, CreatePartitions, and Kafka's
  striped round-robin replica placement.
- ``partition_change`` and ``elections``: leader election from the ISR (clean, unclean,
  preferred) and the partition changes that fencing, shutdown and ElectLeaders cause.
- ``isr``: AlterPartition, validated as Kafka's controller validates it.
- ``producer_ids``: AllocateProducerIds blocks.

Invariants every result keeps (the stateful test checks them): a partition's leader is an
ISR member that is unfenced and not shutting down, or -1; an ISR is a non-empty subset of
the replicas; a fenced or shutting-down broker is in no ISR of more than one member; leader
and partition epochs never go backwards.

- ``local``: the single node's runtime (no ``controller.quorum.voters``). It registers the
  node through ``brokers`` at every start, has ``topics`` and ``producer_ids`` decide topic
  changes and producer-id blocks, does the directory work, applies the records to the image
  and persists it as ``cluster-metadata.json``.
- ``quorum``: the cluster's runtime (``QuorumController``). It replays the committed
  ``__cluster_metadata`` log into its image, acts only as the quorum's leader, appends each
  decision's records as one entry and answers once it is committed; timers on the injected
  clock fence brokers whose lease ran out and give leaderships back to preferred replicas.
  It does no directory work: each broker does its own as its image changes.

Imports metadata, storage and raft only; the node and the net handlers import it.
"""
