"""This node's replicas: one per local partition, and the manager that keeps them in step
with the metadata image.

A replica has a role (leader or follower), an ISR, what its followers' fetches showed (log end
offsets, when each was last caught up) and a high watermark: on the leader the smallest log
end offset over the ISR, never going backwards; on a follower the leader's, as far as its own
log reaches. It enforces leader-epoch fencing and ``min.insync.replicas``. A follower
truncates only where its leader says their logs diverge (KIP-101/279/320). The manager owns
the logs (``broker.storage.LogManager``); nothing above it touches a log. ``purgatory`` holds
acks=all produces until the high watermark passes their batches; ``alter_partition``
proposes ISR changes to the controller; in a cluster the fetchers (``fetcher``) pull the
followed partitions from their leaders over connections the node gives them. Imports
``broker.clock``, ``broker.protocol``, ``broker.storage`` and ``broker.metadata``; imported by
``broker.groups``, ``broker.net`` and ``broker.node``.
"""
