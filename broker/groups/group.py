"""One classic group's bookkeeping: members, leader, generation, protocol and state.

A ``Group`` owns no timers and does no I/O: the coordinator arms its timers, parks its
waiters and decides when to call ``transition_to``, the only place that assigns the state.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from broker.clock import TimerHandle
from broker.groups.codec import CodecError, GroupValue, MemberValue, decode_subscribed_topics
from broker.groups.state import GroupState, transition
from broker.groups.values import JoinMember, JoinResult, SyncResult

CONSUMER_PROTOCOL_TYPE = "consumer"


@dataclass(eq=False, slots=True)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocols: list[tuple[str, bytes]]  # (name, subscription) in the member's preference order
    assignment: bytes = b""
    is_new: bool = False  # joined in the current rebalance: not yet given a generation
    join_waiter: asyncio.Future[JoinResult] | None = None
    sync_waiter: asyncio.Future[SyncResult] | None = None
    session_timer: TimerHandle | None = field(default=None, repr=False)

    @property
    def protocol_names(self) -> set[str]:
        return {name for name, _ in self.protocols}

    def metadata(self, protocol: str) -> bytes:
        """The subscription the member sent for ``protocol``."""
        return next(metadata for name, metadata in self.protocols if name == protocol)

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among ``candidates``."""
        return next(name for name, _ in self.protocols if name in candidates)

    @property
    def heartbeat_satisfied(self) -> bool:
        """Kafka: a member parked in a join or sync needs no heartbeat, unless it is new."""
        return not self.is_new and (self.join_waiter is not None or self.sync_waiter is not None)


class Group:
    def __init__(
        self,
        group_id: str,
        now_ms: int,
        state: GroupState = GroupState.EMPTY,
        generation: int = 0,
        protocol_type: str | None = None,
        protocol_name: str | None = None,
    ) -> None:
        self.group_id = group_id
        self._state = state
        self.previous_state: GroupState | None = None
        self.state_timestamp = now_ms
        self.generation = generation
        self.protocol_type = protocol_type
        self.protocol_name = protocol_name
        self.leader: str | None = None
        self.members: dict[str, Member] = {}  # in joining order
        self.static_members: dict[str, str] = {}  # group.instance.id -> member id (KIP-345)
        self.pending: dict[str, TimerHandle] = {}  # ids handed out with MEMBER_ID_REQUIRED
        self.join_timer: TimerHandle | None = None
        self.new_member_added = False  # a member joined during the initial delay

    @classmethod
    def restore(cls, group_id: str, value: GroupValue, now_ms: int) -> Group:
        """A group as stored: Stable in its generation if it has members, else Empty."""
        stamp = value.current_state_timestamp
        group = cls(
            group_id,
            stamp if stamp >= 0 else now_ms,
            GroupState.STABLE if value.members else GroupState.EMPTY,
            value.generation,
            value.protocol_type or None,
            value.protocol if value.members else None,
        )
        for stored in value.members:
            member = Member(
                stored.member_id,
                stored.group_instance_id,
                stored.client_id,
                stored.client_host,
                stored.rebalance_timeout,
                stored.session_timeout,
                [(value.protocol or "", stored.subscription)],
                stored.assignment,
            )
            group.add(member, value.protocol_type)
        if value.leader in group.members:
            group.leader = value.leader
        return group

    def to_value(self, assignment: dict[str, bytes]) -> GroupValue:
        """The record Kafka stores for this group, with ``assignment`` per member."""
        protocol = self.protocol_name
        return GroupValue(
            self.protocol_type or "",
            self.generation,
            protocol,
            self.leader,
            self.state_timestamp,
            tuple(
                MemberValue(
                    member.member_id,
                    member.group_instance_id,
                    member.client_id,
                    member.client_host,
                    member.rebalance_timeout_ms,
                    member.session_timeout_ms,
                    member.metadata(protocol) if protocol is not None else b"",
                    assignment.get(member.member_id, b""),
                )
                for member in self.members.values()
            ),
        )

    @property
    def state(self) -> GroupState:
        return self._state

    def transition_to(self, target: GroupState, now_ms: int) -> None:
        """Every state change goes through here; ``transition`` enforces the table."""
        self.previous_state, self._state = self._state, transition(self._state, target)
        self.state_timestamp = now_ms

    # ---- membership ---------------------------------------------------------------------

    def add(self, member: Member, protocol_type: str) -> None:
        """Add a member; the first member of an empty group sets its protocol type and the
        first member of a leaderless group leads it."""
        if not self.members:
            self.protocol_type = protocol_type
        if self.leader is None:
            self.leader = member.member_id
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id

    def remove(self, member_id: str) -> Member:
        """Remove a member; a removed leader is replaced by the longest-standing member."""
        member = self.members.pop(member_id)
        if self.static_members.get(member.group_instance_id or "") == member_id:
            del self.static_members[member.group_instance_id or ""]
        if self.leader == member_id:
            self.leader = next(iter(self.members), None)
        return member

    def replace_static(self, instance_id: str, new_member_id: str) -> Member:
        """Give the static member ``instance_id`` a new member id, keeping its place, its
        assignment and its leadership (KIP-345: a restarted instance takes over)."""
        old_member_id = self.static_members[instance_id]
        member = self.members[old_member_id]
        member.member_id = new_member_id
        self.members = {
            (new_member_id if member_id == old_member_id else member_id): each
            for member_id, each in self.members.items()
        }
        self.static_members[instance_id] = new_member_id
        if self.leader == old_member_id:
            self.leader = new_member_id
        return member

    def fenced(self, instance_id: str | None, member_id: str) -> bool:
        """Kafka's ``isStaticMemberFenced``: the instance id is known under another member id."""
        return (
            instance_id is not None and self.static_members.get(instance_id, member_id) != member_id
        )

    @property
    def all_joined(self) -> bool:
        """Every member is parked in a join and no handed-out member id is still unused."""
        return not self.pending and all(m.join_waiter is not None for m in self.members.values())

    @property
    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    # ---- protocols ----------------------------------------------------------------------

    def supports(self, protocol_type: str, names: list[str]) -> bool:
        """Kafka's ``supportsProtocols``: an Empty group takes any non-empty type and list;
        otherwise the type must match and one of ``names`` be supported by every member."""
        if self._state is GroupState.EMPTY:
            return bool(protocol_type) and bool(names)
        members = self.members.values()
        return protocol_type == self.protocol_type and any(
            all(name in m.protocol_names for m in members) for name in names
        )

    def select_protocol(self) -> str:
        """Kafka's vote: each member picks its most preferred protocol among those all
        members support; most votes wins. Ties go to the protocol voted for first."""
        members = list(self.members.values())
        candidates = set.intersection(*(m.protocol_names for m in members))
        return Counter(m.vote(candidates) for m in members).most_common(1)[0][0]

    def subscribed_topics(self) -> frozenset[str]:
        """The topics the members of a ``consumer`` group subscribe to under the chosen
        protocol (Kafka's ``subscribedTopics``); none for another protocol type, before a
        protocol is chosen, or when a subscription cannot be read (Kafka's None)."""
        protocol = self.protocol_name
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or protocol is None:
            return frozenset()
        topics: set[str] = set()
        try:
            for member in self.members.values():
                if protocol in member.protocol_names:
                    topics.update(decode_subscribed_topics(member.metadata(protocol)))
        except CodecError:
            return frozenset()
        return frozenset(topics)

    def join_members(self) -> list[JoinMember]:
        """What the leader's JoinGroup response lists: every member's chosen subscription."""
        assert self.protocol_name is not None
        return [
            JoinMember(m.member_id, m.group_instance_id, m.metadata(self.protocol_name))
            for m in self.members.values()
        ]
