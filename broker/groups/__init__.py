"""Consumer groups: Kafka's classic group coordinator and the committed-offsets store.

Owns: group membership and rebalancing (JoinGroup, SyncGroup, Heartbeat, LeaveGroup),
committed offsets (OffsetCommit, OffsetFetch), the admin views (DescribeGroups, ListGroups,
DeleteGroups), and the records they keep in the internal topic ``__consumer_offsets``, in
Kafka's own key and value formats.

Invariants: a group's state changes only through ``Group.transition_to``, which allows only
the transitions in ``state.TRANSITIONS`` (Kafka's table; Dead is final). A group's
generation never decreases. The leader, if any, is a member; a group has a leader exactly
when it has members. In Stable every member holds the assignment its leader sent for the
current generation. Committed offsets are in the OS (one ``write``) before ``commit``
returns. Everything runs on one asyncio loop; no call awaits while it changes state.

Speaks no wire format: plain values in, plain values out (``values``), ``ErrorCode`` for
errors. Imports the standard library, kio's ``ErrorCode``, ``broker.protocol`` (record
batches), ``broker.storage``, ``broker.clock`` and ``broker.replica``. May be imported by
``broker.net`` handlers and ``broker.node``.

Left out of Kafka's classic coordinator: the pending-sync timeout, group.max.size,
offset retention and expiry, transactional offset commits, compaction of the internal
topic, and coordinator fail-over (one node leads every ``__consumer_offsets`` partition).
"""

from broker.groups.coordinator import GroupCoordinator, GroupSettings
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
