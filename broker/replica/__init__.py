"""This node's replicas: one per local partition, and the manager that keeps them in step
with the metadata image.

A replica has a role (leader or follower), an ISR, its followers' log end offsets and a high
watermark: on the leader the smallest log end offset over the ISR, never going backwards; on
a follower the leader's, as far as its own log reaches. It enforces leader-epoch fencing and
``min.insync.replicas``. A follower truncates only where its leader says their logs diverge
(KIP-101/279/320). The manager owns the logs (``broker.storage.LogManager``); nothing above
it touches a log. In a cluster the fetchers (``fetcher``) pull the followed partitions from
their leaders over connections the node gives them. Imports ``broker.protocol``,
``broker.storage`` and ``broker.metadata``; imported by ``broker.groups``, ``broker.net`` and
``broker.node``.
"""
