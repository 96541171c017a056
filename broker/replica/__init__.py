"""This node's replicas: one per local partition, and the manager that keeps them in step
with the metadata image.

A replica has a role (leader or follower), an ISR, what its followers' fetches showed (log end
offsets, when each was last caught up) and a high watermark that is the smallest log end
offset over the ISR and never goes backwards; it enforces leader-epoch fencing and
``min.insync.replicas``. The manager owns the logs (``broker.storage.LogManager``); nothing
above it touches a log. ``purgatory`` holds acks=all produces until the high watermark passes
their batches; ``alter_partition`` proposes ISR changes to the controller. Imports
``broker.clock``, ``broker.protocol``, ``broker.storage`` and ``broker.metadata``; imported by
``broker.groups``, ``broker.net`` and ``broker.node``.
"""
