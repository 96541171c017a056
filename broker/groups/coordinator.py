"""Kafka's classic group coordinator: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, offsets.

The behaviour follows Apache Kafka's classic coordinator (``GroupCoordinator.scala`` and the
classic half of ``GroupMetadataManager.java``): the same states, error codes, protocol vote,
leader choice, initial delay and rebalance timeouts.

Everything runs on one asyncio loop and nothing here awaits while it changes state, so no
lock is needed. Writes to ``__consumer_offsets`` are appended at once, and what depends on
them waits until they are committed (``broker.groups.writes``): an offset commit is answered,
and the committed offsets shown, only then; the leader's assignment is handed out only then,
if the group is still in the same rebalance. ``join`` and ``sync`` park the caller on a future
until the rebalance gets that far. If the caller is cancelled (its connection died), the
future is abandoned and the member stays parked, exactly like a Kafka client whose response is
lost: the group carries on and the member's session timer decides its fate.

Static membership (KIP-345): a member that joins with a ``group.instance.id`` skips the
MEMBER_ID_REQUIRED round trip, and when it restarts (joins again with no member id) within its
session timeout it takes over its old place under a new member id: in a Stable group whose
protocol choice is unchanged it gets its assignment back without a rebalance. Its old member
id is then fenced (FENCED_INSTANCE_ID). A static member that has not rejoined is kept through
a rebalance, as Kafka keeps it; only its session timeout removes it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from broker.clock import Clock, SystemClock
from broker.groups.codec import GroupKey
from broker.groups.group import CONSUMER_PROTOCOL_TYPE, Group, Member
from broker.groups.offsets import CommittedOffsets
from broker.groups.state import GroupState
from broker.groups.store import OffsetStore, StoreError
from broker.groups.values import (
    CommitEntry,
    CommittedOffset,
    GroupDescription,
    GroupListing,
    JoinResult,
    LeaveMemberResult,
    LeaveResult,
    MemberDescription,
    OffsetDeleteResult,
    SyncResult,
)
from broker.groups.writes import (
    OFFSET_COMMIT_TIMEOUT_MS,
    Commits,
    coordinator_error,
)

log = logging.getLogger("broker.groups")
# A StoreError comes from the __consumer_offsets log, whose data directory has already said
# what is wrong (once, and again when it clears: storage.health); the groups only add which
# group it hit, at DEBUG, so a full disk is not one ERROR line per commit.

# Kafka's NewMemberJoinTimeoutMs: how long a brand-new member may stay parked in its first
# join before it is dropped (its client may have gone away while the join was parked).
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """The coordinator's settings, named after Kafka's broker configs.

    ``initial_rebalance_delay_ms`` is 300 here where Kafka's default is 3000. When an Empty
    group gets its first member the join phase waits this long, and again for as long as
    new members keep arriving within each wait (capped by the rebalance timeout). 300 ms
    makes a classroom demo feel instant, yet three workers started together still land in
    one generation instead of rebalancing three times.
    """

    initial_rebalance_delay_ms: int = 300  # group.initial.rebalance.delay.ms
    min_session_timeout_ms: int = 6000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1_800_000  # group.max.session.timeout.ms
    offset_metadata_max_bytes: int = 4096  # offset.metadata.max.bytes
    offset_commit_timeout_ms: int = OFFSET_COMMIT_TIMEOUT_MS  # offsets.commit.timeout.ms


@dataclass(frozen=True, slots=True)
class _Joiner:
    """What a JoinGroup request says about the member sending it."""

    group_instance_id: str | None
    client_id: str
    client_host: str
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    session_timeout_ms: int
    rebalance_timeout_ms: int


def _join_error(error: ErrorCode, member_id: str) -> JoinResult:
    return JoinResult(error, -1, None, None, "", member_id, [])


def _sync_error(error: ErrorCode) -> SyncResult:
    return SyncResult(error, None, None, b"")


class GroupCoordinator:
    def __init__(
        self, store: OffsetStore, settings: GroupSettings, scheduler: Clock | None = None
    ) -> None:
        self._store = store
        self._settings = settings
        self._scheduler: Clock = scheduler or SystemClock()
        self._commits = Commits(self._scheduler, settings.offset_commit_timeout_ms)
        self._groups: dict[str, Group] = {}
        self._offsets = CommittedOffsets(store, self._commits, settings.offset_metadata_max_bytes)
        self._closed = False

    def _now(self) -> int:
        return self._store.now_ms()

    # ---- loading and closing ------------------------------------------------------------

    def partition_for(self, group_id: str) -> int:
        """The ``__consumer_offsets`` partition that holds ``group_id``."""
        return self._store.partition_for(group_id)

    def load(self) -> tuple[int, int]:
        """Rebuild offsets and groups from the store; call once, before serving (inside the
        loop when the default scheduler is used); returns how many groups and committed
        offsets it found. A group stored with members comes back Stable in its stored
        generation, each member with a fresh session timer, so clients that keep
        heartbeating need not rejoin. A group without members comes back Empty."""
        stored = self._store.replay()
        self._offsets.restore(stored.offsets)
        now = self._now()
        for group_id in sorted(stored.groups.keys() | set(self._offsets.groups())):
            value = stored.groups.get(group_id)
            group = Group(group_id, now) if value is None else Group.restore(group_id, value, now)
            self._groups[group_id] = group
            for member in group.members.values():
                self._arm_session(group, member, member.session_timeout_ms)
        log.debug(
            "loaded %d groups and %d committed offsets", len(self._groups), len(stored.offsets)
        )
        return len(self._groups), len(stored.offsets)

    def close(self, error: ErrorCode = ErrorCode.coordinator_not_available) -> None:
        """Cancel every timer and answer every parked join and sync with ``error``
        (NOT_COORDINATOR when another broker takes over); later calls get
        COORDINATOR_NOT_AVAILABLE. Writes still waiting are answered NOT_COORDINATOR."""
        self._closed = True
        self._commits.close()
        unavailable = error
        for group in self._groups.values():
            self._cancel_join_timer(group)
            for handle in group.pending.values():
                handle.cancel()
            group.pending.clear()
            for member in group.members.values():
                self._cancel_session(member)
                _answer_join(member, _join_error(unavailable, member.member_id))
                _answer_sync(member, _sync_error(unavailable))

    # ---- JoinGroup ----------------------------------------------------------------------

    async def join(
        self,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        require_known_member_id: bool,
        reason: str | None = None,
        supports_skip_assignment: bool = False,
    ) -> JoinResult:
        """JoinGroup. Parks until the join phase completes, unless answered at once.
        ``supports_skip_assignment``: the request is v9+ (KIP-814)."""
        joiner = _Joiner(
            group_instance_id,
            client_id,
            client_host,
            protocol_type,
            list(protocols),
            session_timeout_ms,
            rebalance_timeout_ms,
        )
        answer = self._join(
            group_id, member_id, joiner, require_known_member_id, reason, supports_skip_assignment
        )
        return answer if isinstance(answer, JoinResult) else await answer

    def _join(
        self,
        group_id: str,
        member_id: str,
        joiner: _Joiner,
        require_known_member_id: bool,
        reason: str | None,
        supports_skip_assignment: bool,
    ) -> JoinResult | asyncio.Future[JoinResult]:
        settings = self._settings
        if self._closed:
            return _join_error(ErrorCode.coordinator_not_available, member_id)
        if not group_id:
            return _join_error(ErrorCode.invalid_group_id, member_id)
        timeout = joiner.session_timeout_ms
        if not settings.min_session_timeout_ms <= timeout <= settings.max_session_timeout_ms:
            return _join_error(ErrorCode.invalid_session_timeout, member_id)
        names = [name for name, _ in joiner.protocols]
        group = self._groups.get(group_id)
        if group is None:
            if member_id:
                return _join_error(ErrorCode.unknown_member_id, member_id)
            group = Group(group_id, self._now())
            if not group.supports(joiner.protocol_type, names):
                return _join_error(ErrorCode.inconsistent_group_protocol, member_id)
            self._groups[group_id] = group
        elif not group.supports(joiner.protocol_type, names):
            return _join_error(ErrorCode.inconsistent_group_protocol, member_id)
        why = f"client reason: {reason or 'not provided'}"
        instance_id = joiner.group_instance_id
        if not member_id:
            new_id = f"{joiner.client_id}-{uuid.uuid4()}"
            if instance_id in group.static_members:
                return self._rejoin_static_member(
                    group, instance_id, new_id, joiner, why, supports_skip_assignment
                )
            if require_known_member_id and instance_id is None:
                group.pending[new_id] = self._scheduler.call_later(
                    timeout / 1000, lambda: self._pending_expired(group, new_id)
                )
                return _join_error(ErrorCode.member_id_required, new_id)
            return self._add_member(group, new_id, joiner, why)
        if group.fenced(instance_id, member_id):
            return _join_error(ErrorCode.fenced_instance_id, member_id)
        if member_id in group.pending:
            group.pending.pop(member_id).cancel()
            return self._add_member(group, member_id, joiner, why)
        member = group.members.get(member_id)
        if member is None:
            return _join_error(ErrorCode.unknown_member_id, member_id)
        unchanged = member.protocols == joiner.protocols
        if unchanged and (
            group.state is GroupState.COMPLETING_REBALANCE
            or (group.state is GroupState.STABLE and group.leader != member_id)
        ):
            return self._current_join_answer(group, member)
        return self._update_member(group, member, joiner, why)

    def _add_member(
        self, group: Group, member_id: str, joiner: _Joiner, why: str
    ) -> asyncio.Future[JoinResult]:
        member = Member(
            member_id,
            joiner.group_instance_id,
            joiner.client_id,
            joiner.client_host,
            joiner.rebalance_timeout_ms,
            joiner.session_timeout_ms,
            joiner.protocols,
            is_new=True,
        )
        if (
            group.state is GroupState.PREPARING_REBALANCE
            and group.previous_state is GroupState.EMPTY
        ):
            group.new_member_added = True
        waiter = member.join_waiter = asyncio.get_running_loop().create_future()
        group.add(member, joiner.protocol_type)
        self._arm_session(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._rebalance_or_complete(group, f"adding member {member_id}; {why}")
        return waiter

    def _update_member(
        self, group: Group, member: Member, joiner: _Joiner, why: str
    ) -> asyncio.Future[JoinResult]:
        member.protocols = joiner.protocols
        member.rebalance_timeout_ms = joiner.rebalance_timeout_ms
        member.session_timeout_ms = joiner.session_timeout_ms
        # A second join while one is parked (a retry on a new connection) supersedes it.
        _answer_join(member, _join_error(ErrorCode.rebalance_in_progress, member.member_id))
        waiter = member.join_waiter = asyncio.get_running_loop().create_future()
        self._rebalance_or_complete(group, f"member {member.member_id} rejoining; {why}")
        return waiter

    def _rejoin_static_member(
        self,
        group: Group,
        instance_id: str,
        new_id: str,
        joiner: _Joiner,
        why: str,
        supports_skip_assignment: bool,
    ) -> JoinResult | asyncio.Future[JoinResult]:
        """A known static member joins with no member id: it restarted. It takes over its old
        place under ``new_id``; the old id's parked requests are fenced."""
        old_id = group.static_members[instance_id]
        old_leader = group.leader
        member = group.replace_static(instance_id, new_id)
        log.info(
            "group %s: static member %s rejoins in state %s; %s replaces %s",
            group.group_id, instance_id, group.state, new_id, old_id,
        )  # fmt: skip
        _answer_join(member, _join_error(ErrorCode.fenced_instance_id, old_id))
        _answer_sync(member, _sync_error(ErrorCode.fenced_instance_id))
        self._arm_session(group, member, member.session_timeout_ms)
        if group.state is not GroupState.STABLE:
            return self._update_member(group, member, joiner, why)
        previous = (member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms)
        member.protocols = joiner.protocols
        if group.select_protocol() != group.protocol_name:
            member.protocols = previous[0]
            return self._update_member(group, member, joiner, why)
        member.rebalance_timeout_ms = joiner.rebalance_timeout_ms
        member.session_timeout_ms = joiner.session_timeout_ms
        assignment = {m.member_id: m.assignment for m in group.members.values()}

        def revert(error: ErrorCode) -> JoinResult:
            if not self._closed and group.static_members.get(instance_id) == new_id:
                member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms = previous
                group.replace_static(instance_id, old_id)
                self._arm_session(group, member, member.session_timeout_ms)
            return _join_error(coordinator_error(error), "")

        try:
            ack = self._store.write(
                group.group_id, [(GroupKey(group.group_id), group.to_value(assignment))]
            )
        except StoreError as err:
            log.debug("group %s: cannot store static member %s: %s", group.group_id, new_id, err)
            return revert(err.code)

        def stored(error: ErrorCode) -> JoinResult:
            if error is not ErrorCode.none:
                log.debug("group %s: static member %s not stored: %s", group.group_id, new_id,
                          error.name)  # fmt: skip
                return revert(error)
            return self._static_member_back(group, instance_id, new_id, old_leader,
                                            supports_skip_assignment)  # fmt: skip

        return self._commits.then(ack, stored)

    def _static_member_back(
        self,
        group: Group,
        instance_id: str,
        new_id: str,
        old_leader: str | None,
        supports_skip_assignment: bool,
    ) -> JoinResult:
        """The answer to a static member that took its old place back in a Stable group."""
        log.info("group %s: static member %s keeps its assignment", group.group_id, instance_id)
        is_leader = group.leader == new_id
        if supports_skip_assignment:
            # v9+: the leader learns it leads but skips the assignor (the group is Stable).
            members = group.join_members() if is_leader else []
            return JoinResult(
                ErrorCode.none, group.generation, group.protocol_type, group.protocol_name,
                group.leader or "", new_id, members, skip_assignment=is_leader,
            )  # fmt: skip
        # Before v9: the old leader id, so a restarted leader does not run a useless assignment.
        return JoinResult(
            ErrorCode.none, group.generation, group.protocol_type, group.protocol_name,
            old_leader or "", new_id, [],
        )  # fmt: skip

    def _current_join_answer(self, group: Group, member: Member) -> JoinResult:
        is_leader = group.leader == member.member_id
        return JoinResult(
            ErrorCode.none,
            group.generation,
            group.protocol_type,
            group.protocol_name,
            group.leader or "",
            member.member_id,
            group.join_members() if is_leader else [],
        )

    # ---- the rebalance ------------------------------------------------------------------

    def _rebalance_or_complete(self, group: Group, reason: str) -> None:
        if group.state is GroupState.PREPARING_REBALANCE:
            self._maybe_complete_join(group)
        else:
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.state is GroupState.COMPLETING_REBALANCE:
            self._reset_and_propagate(group, ErrorCode.rebalance_in_progress)
        initial = group.state is GroupState.EMPTY
        self._cancel_join_timer(group)
        group.transition_to(GroupState.PREPARING_REBALANCE, self._now())
        log.info(
            "group %s: preparing to rebalance from generation %d (%s)",
            group.group_id,
            group.generation,
            reason,
        )
        if initial:
            # Kafka's InitialDelayedJoin: wait for more members of a group starting up.
            group.new_member_added = False
            delay = self._settings.initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms - delay, 0)
            self._schedule_join(
                group, delay, lambda: self._initial_delay_over(group, delay, remaining)
            )
        elif group.all_joined:
            self._complete_join(group)
        else:
            self._schedule_join(
                group, group.rebalance_timeout_ms, lambda: self._complete_join(group)
            )

    def _initial_delay_over(self, group: Group, delay: int, remaining: int) -> None:
        if group.new_member_added and remaining:
            group.new_member_added = False
            next_delay = min(self._settings.initial_rebalance_delay_ms, remaining)
            next_remaining = max(remaining - delay, 0)
            self._schedule_join(
                group,
                next_delay,
                lambda: self._initial_delay_over(group, next_delay, next_remaining),
            )
        else:
            self._complete_join(group)

    def _maybe_complete_join(self, group: Group) -> None:
        """Complete the join phase early once everyone is in, except in the initial delay."""
        if (
            group.state is GroupState.PREPARING_REBALANCE
            and group.previous_state is not GroupState.EMPTY
            and group.all_joined
        ):
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        """End the join phase: drop members that did not rejoin, start the next generation
        and answer every parked join (the leader also gets the members)."""
        self._cancel_join_timer(group)
        late = [m for m in group.members.values() if m.join_waiter is None]
        for member in [m for m in late if m.group_instance_id is None]:
            log.info("group %s: member %s did not rejoin in time", group.group_id, member.member_id)
            self._cancel_session(member)
            group.remove(member.member_id)
        group.generation += 1
        now = self._now()
        if not group.members:
            group.protocol_name = None
            group.transition_to(GroupState.EMPTY, now)
            log.info("group %s: generation %d is empty", group.group_id, group.generation)
            self._store_empty_group(group)
            return
        group.protocol_name = group.select_protocol()
        group.transition_to(GroupState.COMPLETING_REBALANCE, now)
        log.info(
            "group %s: generation %d with %d members, protocol %s, leader %s",
            group.group_id,
            group.generation,
            len(group.members),
            group.protocol_name,
            group.leader,
        )
        for member in group.members.values():
            _answer_join(member, self._current_join_answer(group, member))
            member.is_new = False
            self._arm_session(group, member, member.session_timeout_ms)

    # ---- SyncGroup ----------------------------------------------------------------------

    async def sync(
        self,
        group_id: str,
        member_id: str,
        generation_id: int,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: dict[str, bytes],
    ) -> SyncResult:
        """SyncGroup. In CompletingRebalance a follower parks until the leader's assignment
        is stored. ``protocol_type``/``protocol_name`` are None before v5."""
        answer = self._sync(
            group_id,
            member_id,
            generation_id,
            group_instance_id,
            protocol_type,
            protocol_name,
            assignments,
        )
        return answer if isinstance(answer, SyncResult) else await answer

    def _sync(
        self,
        group_id: str,
        member_id: str,
        generation_id: int,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: dict[str, bytes],
    ) -> SyncResult | asyncio.Future[SyncResult]:
        if self._closed:
            return _sync_error(ErrorCode.coordinator_not_available)
        if not group_id:
            return _sync_error(ErrorCode.invalid_group_id)
        group = self._groups.get(group_id)
        if group is not None and group.fenced(group_instance_id, member_id):
            return _sync_error(ErrorCode.fenced_instance_id)
        member = None if group is None else group.members.get(member_id)
        if group is None or member is None:
            return _sync_error(ErrorCode.unknown_member_id)
        if generation_id != group.generation:
            return _sync_error(ErrorCode.illegal_generation)
        if (protocol_type is not None and protocol_type != group.protocol_type) or (
            protocol_name is not None and protocol_name != group.protocol_name
        ):
            return _sync_error(ErrorCode.inconsistent_group_protocol)
        if group.state is GroupState.PREPARING_REBALANCE:
            return _sync_error(ErrorCode.rebalance_in_progress)
        if group.state is GroupState.STABLE:
            self._arm_session(group, member, member.session_timeout_ms)
            return SyncResult(
                ErrorCode.none, group.protocol_type, group.protocol_name, member.assignment
            )
        _answer_sync(member, _sync_error(ErrorCode.rebalance_in_progress))
        waiter = member.sync_waiter = asyncio.get_running_loop().create_future()
        if group.leader == member_id:
            self._take_assignment(group, {m: assignments.get(m, b"") for m in group.members})
        return waiter

    def _take_assignment(self, group: Group, assignment: dict[str, bytes]) -> None:
        """Store the leader's assignment with the group; once it is committed, hand it out:
        Stable (unless the rebalance moved on meanwhile: then the answer is not needed)."""
        try:
            ack = self._store.write(
                group.group_id, [(GroupKey(group.group_id), group.to_value(assignment))]
            )
        except StoreError as err:
            log.debug("group %s: cannot store the assignment: %s", group.group_id, err)
            self._assignment_not_stored(group, err.code)
            return
        generation = group.generation

        def stored(error: ErrorCode) -> None:
            if (
                self._closed
                or group.generation != generation
                or group.state is not GroupState.COMPLETING_REBALANCE
            ):
                return
            if error is ErrorCode.none:
                self._hand_out(group, assignment)
            else:
                log.debug("group %s: assignment not stored: %s", group.group_id, error.name)
                self._assignment_not_stored(group, error)

        self._commits.then(ack, stored)

    def _assignment_not_stored(self, group: Group, error: ErrorCode) -> None:
        self._reset_and_propagate(group, coordinator_error(error))
        self._prepare_rebalance(group, "the assignment could not be stored")

    def _hand_out(self, group: Group, assignment: dict[str, bytes]) -> None:
        for member in group.members.values():
            member.assignment = assignment[member.member_id]
        self._propagate(group, ErrorCode.none)
        group.transition_to(GroupState.STABLE, self._now())
        log.info("group %s: generation %d is stable", group.group_id, group.generation)

    def _reset_and_propagate(self, group: Group, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate(group, error)

    def _propagate(self, group: Group, error: ErrorCode) -> None:
        """Answer every parked sync; their session timers start afresh."""
        ok = error is ErrorCode.none
        for member in group.members.values():
            answer = SyncResult(
                error,
                group.protocol_type if ok else None,
                group.protocol_name if ok else None,
                member.assignment,
            )
            if _answer_sync(member, answer):
                self._arm_session(group, member, member.session_timeout_ms)

    # ---- Heartbeat and LeaveGroup -------------------------------------------------------

    def heartbeat(
        self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None
    ) -> ErrorCode:
        """Heartbeat: restarts the member's session timer. REBALANCE_IN_PROGRESS tells the
        members of the old generation to rejoin."""
        if self._closed:
            return ErrorCode.coordinator_not_available
        if not group_id:
            return ErrorCode.invalid_group_id
        group = self._groups.get(group_id)
        if group is not None and group.fenced(group_instance_id, member_id):
            return ErrorCode.fenced_instance_id
        member = None if group is None else group.members.get(member_id)
        if group is None or member is None:
            return ErrorCode.unknown_member_id
        if generation_id != group.generation:
            return ErrorCode.illegal_generation
        self._arm_session(group, member, member.session_timeout_ms)
        if group.state is GroupState.PREPARING_REBALANCE:
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    def leave(self, group_id: str, members: list[tuple[str, str | None]]) -> LeaveResult:
        """LeaveGroup: ``members`` are ``(member_id, group_instance_id)`` pairs. Removing a
        member of a Stable or CompletingRebalance group starts a rebalance."""
        if self._closed:
            return LeaveResult(ErrorCode.coordinator_not_available, [])
        if not group_id:
            return LeaveResult(ErrorCode.invalid_group_id, [])
        group = self._groups.get(group_id)
        return LeaveResult(
            ErrorCode.none,
            [
                LeaveMemberResult(
                    member_id, instance_id, self._leave_one(group, member_id, instance_id)
                )
                for member_id, instance_id in members
            ],
        )

    def _leave_one(self, group: Group | None, member_id: str, instance_id: str | None) -> ErrorCode:
        """Kafka's rules: a static member may leave by its instance id alone (no member id)."""
        if group is None:
            return ErrorCode.unknown_member_id
        if member_id and group.fenced(instance_id, member_id):
            return ErrorCode.fenced_instance_id
        if instance_id in group.static_members and member_id not in group.members:
            member_id = group.static_members[instance_id]
        if member_id in group.pending:
            group.pending.pop(member_id).cancel()
            self._maybe_complete_join(group)
            return ErrorCode.none
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.unknown_member_id
        self._remove_member(group, member, f"member {member_id} left the group")
        return ErrorCode.none

    def _remove_member(self, group: Group, member: Member, reason: str) -> None:
        log.info("group %s: removing member %s: %s", group.group_id, member.member_id, reason)
        _answer_join(member, _join_error(ErrorCode.unknown_member_id, ""))
        _answer_sync(member, _sync_error(ErrorCode.unknown_member_id))
        self._cancel_session(member)
        group.remove(member.member_id)
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._prepare_rebalance(group, reason)
        else:
            self._maybe_complete_join(group)

    # ---- timers -------------------------------------------------------------------------

    def _schedule_join(self, group: Group, delay_ms: int, callback: Callable[[], None]) -> None:
        """The group's one join-phase timer: the initial delay or the rebalance timeout."""
        group.join_timer = self._scheduler.call_later(delay_ms / 1000, callback)

    def _cancel_join_timer(self, group: Group) -> None:
        if group.join_timer is not None:
            group.join_timer.cancel()
            group.join_timer = None

    def _arm_session(self, group: Group, member: Member, timeout_ms: int) -> None:
        """(Re)start the member's session timer."""
        self._cancel_session(member)
        member.session_timer = self._scheduler.call_later(
            timeout_ms / 1000, lambda: self._session_expired(group, member)
        )

    def _cancel_session(self, member: Member) -> None:
        if member.session_timer is not None:
            member.session_timer.cancel()
            member.session_timer = None

    def _session_expired(self, group: Group, member: Member) -> None:
        if member.heartbeat_satisfied:
            self._arm_session(group, member, member.session_timeout_ms)
        else:
            self._remove_member(group, member, "its session timed out")

    def _pending_expired(self, group: Group, member_id: str) -> None:
        del group.pending[member_id]
        log.info("group %s: member id %s was never used", group.group_id, member_id)
        self._maybe_complete_join(group)

    # ---- offsets ------------------------------------------------------------------------

    def commit(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: list[CommitEntry],
    ) -> list[ErrorCode] | asyncio.Future[list[ErrorCode]]:
        """OffsetCommit: one error per entry, in order, at once or (while the batch of
        accepted offsets is not yet committed) as a future. Offsets are shown by ``fetch``
        once committed."""
        error = self._commit_error(group_id, generation_id, member_id, group_instance_id)
        if error is not ErrorCode.none:
            return [error] * len(offsets)
        return self._offsets.commit(group_id, offsets)

    def _commit_error(
        self, group_id: str, generation_id: int, member_id: str, instance_id: str | None
    ) -> ErrorCode:
        if self._closed:
            return ErrorCode.coordinator_not_available
        group = self._groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return ErrorCode.illegal_generation
            # A consumer that assigns partitions itself: Kafka creates a "simple" group.
            group = self._groups[group_id] = Group(group_id, self._now())
        if generation_id < 0 and group.state is GroupState.EMPTY:
            return ErrorCode.none
        if group.fenced(instance_id, member_id):
            return ErrorCode.fenced_instance_id
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.unknown_member_id
        if generation_id != group.generation:
            return ErrorCode.illegal_generation
        if group.state is GroupState.COMPLETING_REBALANCE:
            return ErrorCode.rebalance_in_progress
        self._arm_session(group, member, member.session_timeout_ms)
        return ErrorCode.none

    def fetch(
        self, group_id: str, partitions: list[tuple[str, int]] | None
    ) -> list[CommittedOffset]:
        """OffsetFetch (``CommittedOffsets.fetch``)."""
        return self._offsets.fetch(group_id, partitions)

    def remove_offsets(self, exists: Callable[[str], bool]) -> None:
        """Tombstone the committed offsets of topics that no longer ``exists``."""
        self._offsets.remove_topics(exists)

    def delete_offsets(
        self, group_id: str, partitions: list[tuple[str, int]]
    ) -> OffsetDeleteResult | asyncio.Future[OffsetDeleteResult]:
        """OffsetDelete, as Kafka's ``GroupCoordinator.handleDeleteOffsets``: an Empty group
        loses the offsets of every partition asked; a ``consumer`` group with members keeps
        those of the topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC) and loses the rest;
        any other group with members answers NON_EMPTY_GROUP, an unknown one
        GROUP_ID_NOT_FOUND. The tombstones are one batch, answered once committed; an Empty
        group left without offsets is then deleted (Kafka's ``cleanupGroupMetadata``)."""
        if self._closed:
            return OffsetDeleteResult(ErrorCode.coordinator_not_available, {})
        group = self._groups.get(group_id)
        if group is None:
            return OffsetDeleteResult(ErrorCode.group_id_not_found, {})
        errors: dict[tuple[str, int], ErrorCode] = {}
        if group.state is GroupState.EMPTY:
            eligible = partitions
        elif group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            subscribed = group.subscribed_topics()
            eligible = [key for key in partitions if key[0] not in subscribed]
            errors = {
                key: ErrorCode.group_subscribed_to_topic
                for key in partitions
                if key[0] in subscribed
            }
        else:
            return OffsetDeleteResult(ErrorCode.non_empty_group, {})

        def deleted(error: ErrorCode) -> OffsetDeleteResult:
            if error is not ErrorCode.none:
                return OffsetDeleteResult(error, {})
            current = self._groups.get(group_id)
            if (
                current is not None
                and current.state is GroupState.EMPTY
                and not self._offsets.has_offsets(group_id)
                and not self._closed
            ):
                self._delete_one(group_id)
            return OffsetDeleteResult(
                ErrorCode.none, {**errors, **dict.fromkeys(eligible, ErrorCode.none)}
            )

        return self._offsets.delete(group_id, eligible, deleted)

    # ---- admin --------------------------------------------------------------------------

    def describe(self, group_id: str) -> GroupDescription:
        """DescribeGroups. An unknown group is described as Dead, without an error (Kafka).
        Member metadata, assignments and the protocol name are shown only when Stable."""
        group = self._groups.get(group_id)
        if group is None:
            return GroupDescription(ErrorCode.none, group_id, str(GroupState.DEAD), "", "", [])
        protocol = group.protocol_name if group.state is GroupState.STABLE else None
        members = [
            MemberDescription(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                b"" if protocol is None else m.metadata(protocol),
                b"" if protocol is None else m.assignment,
            )
            for m in group.members.values()
        ]
        return GroupDescription(
            ErrorCode.none,
            group_id,
            str(group.state),
            group.protocol_type or "",
            protocol or "",
            members,
        )

    def list_groups(self, states: set[str] | None = None) -> list[GroupListing]:
        """ListGroups, sorted by group id. ``states`` filters by state name, ignoring case;
        None or an empty set lists every group (Kafka's empty filter)."""
        wanted = {state.lower() for state in states} if states else None
        return [
            GroupListing(group_id, group.protocol_type or "", str(group.state))
            for group_id, group in sorted(self._groups.items())
            if wanted is None or str(group.state).lower() in wanted
        ]

    def delete(self, group_ids: list[str]) -> dict[str, ErrorCode]:
        """DeleteGroups: only Empty groups go. Their offsets and metadata are tombstoned in
        the store (one batch per group) and the group is Dead and forgotten. A group named
        twice is answered once."""
        results: dict[str, ErrorCode] = {}
        for group_id in group_ids:
            if group_id not in results:
                results[group_id] = self._delete_one(group_id)
        return results

    def _delete_one(self, group_id: str) -> ErrorCode:
        if self._closed:
            return ErrorCode.coordinator_not_available
        group = self._groups.get(group_id)
        if group is None:
            return ErrorCode.group_id_not_found
        if group.state is not GroupState.EMPTY:
            return ErrorCode.non_empty_group
        tombstones = self._offsets.tombstones(group_id)
        try:
            self._store.write(group_id, [*tombstones, (GroupKey(group_id), None)])
        except StoreError as err:
            log.debug("group %s: cannot delete: %s", group_id, err)
            return ErrorCode.not_coordinator
        for handle in group.pending.values():
            handle.cancel()
        group.transition_to(GroupState.DEAD, self._now())
        del self._groups[group_id]
        self._offsets.forget(group_id)
        log.info("group %s: deleted with %d committed offsets", group_id, len(tombstones))
        return ErrorCode.none

    def _store_empty_group(self, group: Group) -> None:
        # As in Kafka, failing to store an empty generation only costs a stale one on reload.
        try:
            self._store.write(group.group_id, [(GroupKey(group.group_id), group.to_value({}))])
        except StoreError as err:
            log.warning(
                "group %s: cannot store generation %d: %s", group.group_id, group.generation, err
            )


def _answer_join(member: Member, result: JoinResult) -> None:
    """Answer the member's parked join, if any (its caller may have gone: then drop it)."""
    waiter, member.join_waiter = member.join_waiter, None
    if waiter is not None and not waiter.done():
        waiter.set_result(result)


def _answer_sync(member: Member, result: SyncResult) -> bool:
    """Answer the member's parked sync, if any; False when there was none."""
    waiter, member.sync_waiter = member.sync_waiter, None
    if waiter is None:
        return False
    if not waiter.done():
        waiter.set_result(result)
    return True
