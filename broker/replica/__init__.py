"""This node's replicas: one per local partition, and the manager that keeps them in step
with the metadata image.

A replica has a role (leader or follower), an ISR, its followers' log end offsets and a high
watermark that is the smallest log end offset over the ISR and never goes backwards; it
enforces leader-epoch fencing and ``min.insync.replicas``. The manager owns the logs
(``broker.storage.LogManager``); nothing above it touches a log. Imports ``broker.protocol``,
``broker.storage`` and ``broker.metadata``; imported by ``broker.groups``, ``broker.net``
and ``broker.node``.
"""
