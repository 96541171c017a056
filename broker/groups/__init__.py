"""Consumer groups: Kafka's classic group coordinator and the committed-offsets store.

Owns: group membership and rebalancing (JoinGroup, SyncGroup, Heartbeat, LeaveGroup:
``coordinator``), committed offsets (OffsetCommit, OffsetFetch, OffsetDelete: ``offsets``),
the admin views (DescribeGroups, ListGroups, DeleteGroups), the records they keep in the
internal topic ``__consumer_offsets`` in Kafka's own key and value formats (``store``,
``codec``), how those writes wait for the partition's ISR (``writes``), and which groups this
broker coordinates: one coordinator shard per ``__consumer_offsets`` partition it leads
(``routing``).

Invariants: a group's state changes only through ``Group.transition_to``, which allows only
the transitions in ``state.TRANSITIONS`` (Kafka's table; Dead is final). A group's
generation never decreases. The leader, if any, is a member; a group has a leader exactly
when it has members. In Stable every member holds the assignment its leader sent for the
current generation. Committed offsets are in the OS (one ``write``) before ``commit``
returns, and are answered and shown only once every ISR member holds them. Everything runs on
one asyncio loop; no call awaits while it changes state.

Speaks no wire format: plain values in, plain values out (``values``), ``ErrorCode`` for
errors. Imports the standard library, kio's ``ErrorCode``, ``broker.protocol`` (record
batches), ``broker.storage``, ``broker.clock`` and ``broker.replica``. May be imported by
``broker.net`` handlers and the nodes (``broker.node``, ``broker.cluster_node``).

Left out of Kafka's classic coordinator: the pending-sync timeout, group.max.size,
offset retention and expiry, transactional offset commits, and compaction of the internal
topic.
"""

from broker.groups.coordinator import GroupCoordinator, GroupSettings
from broker.groups.routing import GroupCoordinators
from broker.groups.state import GroupState
from broker.groups.store import OFFSETS_TOPIC, OffsetStore
from broker.groups.values import (
    CommitEntry,
    CommittedOffset,
    GroupDescription,
    GroupListing,
    JoinMember,
    JoinResult,
    LeaveMemberResult,
    LeaveResult,
    MemberDescription,
    SyncResult,
)

__all__ = [
    "OFFSETS_TOPIC",
    "CommitEntry",
    "CommittedOffset",
    "GroupCoordinator",
    "GroupCoordinators",
    "GroupDescription",
    "GroupListing",
    "GroupSettings",
    "GroupState",
    "JoinMember",
    "JoinResult",
    "LeaveMemberResult",
    "LeaveResult",
    "MemberDescription",
    "OffsetStore",
    "SyncResult",
]
