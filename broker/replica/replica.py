"""One local replica of a partition: its log, its role, its ISR and its high watermark.

The leader's high watermark is the smallest log end offset over the ISR (its own, and what
each follower's fetches told it); it never goes backwards. On one node the ISR is the node
itself, so the high watermark is the log end offset, as before replication. The replica also
holds the rules a leader applies before serving: leader-epoch fencing (KIP-320) and
``min.insync.replicas`` for acks=all.

As the leader it tracks its followers (``broker.replica.isr``): which ISR members fell behind
for ``replica.lag.time.max.ms`` (shrink candidates), which other replicas caught up (expand
candidates), and the one ISR change it has proposed to the controller, until the answer or a
newer image settles it. Sending the proposals is ``broker.replica.alter_partition``'s work.

The leader also serves DeleteRecords: it moves its log start offset, and the request waits
until the low watermark, the smallest log start over the ISR, reaches it (followers move
theirs from the leader's fetch answers and say so in their next fetch).

A follower keeps its leader's id, stores the leader's batches as they are, takes the leader's
high watermark as far as its own log reaches, and truncates its log only where the leader says
the two diverge (KIP-101/279), never to its high watermark.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from enum import Enum

from kio.schema.errors import ErrorCode

from broker.clock import Clock, SystemClock
from broker.protocol.batch import BatchHeader
from broker.replica.isr import UNKNOWN_OFFSET, FollowerState, PendingIsr
from broker.storage.config import LogConfig
from broker.storage.errors import StorageError
from broker.storage.log import PartitionLog
from broker.storage.segment import FileSlice, TimestampAndOffset

ALL_ACKS = -1
HIGH_WATERMARK = -1  # DeleteRecords' offset meaning "up to the high watermark"


# AlterPartition errors after which a proposal waits for the next image (Kafka's choice).
_AWAIT_NEW_IMAGE = frozenset(
    (
        ErrorCode.unknown_topic_or_partition,
        ErrorCode.unknown_topic_id,
        ErrorCode.fenced_leader_epoch,
        ErrorCode.invalid_update_version,
        ErrorCode.invalid_request,
        ErrorCode.new_leader_elected,
    )
)


class Role(Enum):
    LEADER = "leader"
    FOLLOWER = "follower"


class ReplicaError(Exception):
    """A request this replica refuses, with the Kafka error code to answer."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Replica:
    """A partition as this node holds it. Built as the leader, with an ISR of itself unless
    ``isr`` says otherwise (and ``replicas`` of its ISR unless given), and ``high_watermark``
    as the checkpoint left it. ``on_isr_candidate`` is told when a follower's fetch makes it a
    candidate to join the ISR."""

    __slots__ = (
        "_append_waiters",
        "_clock",
        "_on_isr_candidate",
        "_waiters",
        "follower_high_watermarks",
        "followers",
        "high_watermark",
        "index",
        "isr",  # the committed ISR: the image's, or the controller's answer to our proposal
        "leader_epoch",
        "leader_epoch_start_offset",
        "leader_id",
        "log",  # the partition's log: the replica and its manager use it, no handler does
        "node_id",
        "partition_epoch",
        "pending_isr",
        "replicas",
        "role",
        "topic",
    )

    def __init__(
        self,
        topic: str,
        index: int,
        log: PartitionLog,
        leader_epoch: int,
        *,
        node_id: int = 0,
        isr: frozenset[int] | None = None,
        replicas: tuple[int, ...] | None = None,
        partition_epoch: int = 0,
        high_watermark: int = 0,
        clock: Clock | None = None,
        on_isr_candidate: Callable[[Replica], None] | None = None,
    ) -> None:
        self.topic = topic
        self.index = index
        self.log = log
        self.node_id = node_id
        self.role = Role.LEADER
        self.leader_id = node_id
        self.leader_epoch = leader_epoch
        self.isr: frozenset[int] = frozenset((node_id,)) if isr is None else isr
        self.replicas: tuple[int, ...] = tuple(sorted(self.isr)) if replicas is None else replicas
        self.partition_epoch = partition_epoch
        self.pending_isr: PendingIsr | None = None
        self.leader_epoch_start_offset = log.log_end_offset
        self._clock = clock or SystemClock()
        self._on_isr_candidate = on_isr_candidate
        # Every other replica as its fetches showed it (none on one node).
        self.followers: dict[int, FollowerState] = {}
        self._follow_assignment(new_epoch=True, new_leader=True)
        # The high watermark each follower was last sent: one behind is news for it.
        self.follower_high_watermarks: dict[int, int] = {}
        self.high_watermark = min(high_watermark, log.log_end_offset)  # the checkpoint's
        self._waiters: set[asyncio.Future[None]] = set()
        self._append_waiters: set[asyncio.Future[None]] = set()  # replica fetches
        self._advance_high_watermark()

    # -- what the partition holds ---------------------------------------------------------

    @property
    def config(self) -> LogConfig:
        return self.log.config

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    # -- leadership ---------------------------------------------------------------------

    def become_leader(
        self,
        leader_epoch: int,
        isr: frozenset[int],
        partition_epoch: int = 0,
        replicas: tuple[int, ...] | None = None,
    ) -> None:
        """Lead from ``leader_epoch`` on with the image's ``isr`` at ``partition_epoch``:
        batches appended from now carry the epoch. An image older than the ISR the
        controller already answered us with (a smaller partition epoch) is skipped, as
        Kafka's ``Partition.makeLeader`` does; any proposal in flight is dropped."""
        new_leader = self.role is not Role.LEADER
        if not new_leader and partition_epoch < self.partition_epoch:
            return
        new_epoch = leader_epoch != self.leader_epoch
        self.role = Role.LEADER
        self.leader_id = self.node_id
        self.isr = isr
        self.replicas = tuple(sorted(isr)) if replicas is None else replicas
        self.partition_epoch = partition_epoch
        self.pending_isr = None
        if new_epoch:
            self.log.assign_epoch(leader_epoch, self.log.log_end_offset)
        if new_epoch or new_leader:
            self.leader_epoch_start_offset = self.log.log_end_offset
        self.leader_epoch = leader_epoch
        self._follow_assignment(new_epoch or new_leader, new_leader)
        self.follower_high_watermarks = {}
        self._advance_high_watermark()

    def _follow_assignment(self, new_epoch: bool, new_leader: bool) -> None:
        """Track every other replica of the assignment; a new leader epoch resets them."""
        now_ms = self._clock.now_ms()
        followers = {}
        for node in (*self.replicas, *self.isr):
            if node != self.node_id:
                state = self.followers.get(node)
                if state is None:
                    state = FollowerState()
                    state.reset(now_ms, node in self.isr, new_leader=True)
                elif new_epoch:
                    state.reset(now_ms, node in self.isr, new_leader)
                followers[node] = state
        self.followers = followers

    def become_follower(self, leader_id: int, leader_epoch: int) -> None:
        """Follow ``leader_id`` (-1: no leader for now): refuse produce and consumer fetches
        from now on, and wake waiting fetches and acks=all produces so they answer so. The
        log is not truncated here, to the high watermark or otherwise (KIP-101): the fetcher
        truncates it once the leader names where the two diverge."""
        self.role = Role.FOLLOWER
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self.pending_isr = None
        self._wake(self._waiters)
        self._wake(self._append_waiters)

    def stop(self) -> None:
        """This node no longer holds the partition (deleted, or moved off it): serve nothing
        more; waiting fetches and acks=all produces answer NOT_LEADER_OR_FOLLOWER."""
        self.role = Role.FOLLOWER
        self.pending_isr = None
        self._wake(self._waiters)
        self._wake(self._append_waiters)

    def check_leader(self, current_leader_epoch: int = -1) -> ErrorCode | None:
        """Why a request for this partition may not be served here, or None. Not the leader:
        NOT_LEADER_OR_FOLLOWER. KIP-320: a stale epoch is fenced, one from the future is
        unknown; -1 skips the epoch check."""
        if self.role is not Role.LEADER:
            return ErrorCode.not_leader_or_follower
        if current_leader_epoch < 0 or current_leader_epoch == self.leader_epoch:
            return None
        if current_leader_epoch < self.leader_epoch:
            return ErrorCode.fenced_leader_epoch
        return ErrorCode.unknown_leader_epoch

    # -- the leader's log ---------------------------------------------------------------

    def append(
        self, records: bytes, headers: list[BatchHeader], now_ms: int, required_acks: int = 1
    ) -> int:
        """Append validated batches as the leader; returns the base offset and wakes waiting
        fetches. Raises ReplicaError (NOT_ENOUGH_REPLICAS when acks=all and the ISR is
        smaller than ``min.insync.replicas``; nothing is appended then) and the log's own
        errors."""
        if self.role is not Role.LEADER:
            raise ReplicaError(
                ErrorCode.not_leader_or_follower,
                f"this broker is not the leader of {self.topic}-{self.index}",
            )
        # The committed ISR, as Kafka: a pending expansion does not count yet.
        if required_acks == ALL_ACKS and len(self.isr) < self.log.config.min_insync_replicas:
            raise ReplicaError(
                ErrorCode.not_enough_replicas,
                f"the ISR of {self.topic}-{self.index} has {len(self.isr)} member(s), fewer "
                f"than min.insync.replicas={self.log.config.min_insync_replicas}",
            )
        try:
            base_offset = self.log.append(records, headers, self.leader_epoch, now_ms)
        finally:  # a flush that fails after the write leaves the batch in the log
            self._wake(self._append_waiters)
            self._advance_high_watermark()
        return base_offset

    def update_follower(
        self, node_id: int, log_end_offset: int, log_start_offset: int = UNKNOWN_OFFSET
    ) -> None:
        """A follower's fetch told us how far its log reaches (now, as the leader's log end
        is now) and where it starts (Fetch v5+; a DeleteRecords waiting for the low watermark
        is woken when that moves). Not a replica of the partition: ignored."""
        state = self.followers.get(node_id)
        if state is None:
            return
        state.record_fetch(log_end_offset, self.log.log_end_offset, self._clock.now_ms())
        if log_start_offset != state.log_start_offset:
            state.log_start_offset = log_start_offset
            self._wake(self._waiters)
        self._advance_high_watermark()
        if (
            self._on_isr_candidate is not None
            and node_id not in self.isr
            and self.pending_isr is None
            and self._may_join(state)
        ):
            self._on_isr_candidate(self)

    def _advance_high_watermark(self) -> None:
        """HW = the smallest log end offset over the maximal ISR, never moving backwards."""
        followers = self.followers
        lowest = self.log.log_end_offset
        for node in self.maximal_isr:
            if node != self.node_id:
                lowest = min(lowest, followers[node].log_end_offset)
        if lowest > self.high_watermark:
            self.high_watermark = lowest
            self._wake(self._waiters)

    def acks_status(self, required_offset: int) -> ErrorCode | None:
        """The answer to an acks=all produce whose batches end just before
        ``required_offset``, or None while it must wait (Kafka's
        ``Partition.checkEnoughReplicasReachOffset``)."""
        if self.role is not Role.LEADER:
            return ErrorCode.not_leader_or_follower
        if self.high_watermark < required_offset:
            return None
        if len(self.maximal_isr) < self.log.config.min_insync_replicas:
            return ErrorCode.not_enough_replicas_after_append
        return ErrorCode.none

    def delete_records(self, offset: int) -> int:
        """DeleteRecords on the leader (Kafka's ``Partition.deleteRecordsOnLeader``): move the
        log start offset to ``offset`` (-1: the high watermark), deleting the segments wholly
        below it; returns the offset the low watermark must reach. Raises ReplicaError:
        NOT_LEADER_OR_FOLLOWER, POLICY_VIOLATION when cleanup.policy lacks ``delete``,
        OFFSET_OUT_OF_RANGE for an offset below 0 or past the high watermark; and the log's
        StorageError."""
        name = f"{self.topic}-{self.index}"
        if self.role is not Role.LEADER:
            raise ReplicaError(
                ErrorCode.not_leader_or_follower, f"this broker is not the leader of {name}"
            )
        if not self.log.config.deletes_old_segments:
            raise ReplicaError(
                ErrorCode.policy_violation,
                f"records of partition {name} can not be deleted due to the configured policy",
            )
        target = self.high_watermark if offset == HIGH_WATERMARK else offset
        if not 0 <= target <= self.high_watermark:
            raise ReplicaError(
                ErrorCode.offset_out_of_range,
                f"cannot delete records of {name} below {target}: the offset must lie between "
                f"0 and the high watermark {self.high_watermark}",
            )
        self.log.advance_log_start(target)
        self._wake(self._waiters)  # the low watermark may have reached it already
        return target

    @property
    def low_watermark(self) -> int:
        """The leader's low watermark: the smallest log start offset over itself and the
        other members of its (maximal) ISR, as their fetches told it (-1 while one has not
        said). Kafka's ``lowWatermarkIfLeader`` counts every replica on a live broker; an
        ISR member is one."""
        lowest = self.log.log_start_offset
        followers = self.followers
        for node in self.maximal_isr:
            if node != self.node_id:
                lowest = min(lowest, followers[node].log_start_offset)
        return lowest

    def delete_records_status(self, required_offset: int) -> ErrorCode | None:
        """The answer to a DeleteRecords that moved the log start to ``required_offset``, or
        None while it must wait for the low watermark to reach it (Kafka's
        ``DelayedDeleteRecords.tryComplete``)."""
        if self.role is not Role.LEADER:
            return ErrorCode.not_leader_or_follower
        return ErrorCode.none if self.low_watermark >= required_offset else None

    # -- the ISR (leader side) ---------------------------------------------------------

    @property
    def maximal_isr(self) -> frozenset[int]:
        """The ISR the high watermark waits for: the committed one, and while a change is
        pending, every replica it names too."""
        pending = self.pending_isr
        return self.isr if pending is None else pending.maximal

    def shrink_candidates(self, max_lag_ms: int) -> frozenset[int]:
        """ISR members not caught up within ``max_lag_ms`` (none while a change is pending,
        as Kafka's ``Partition.getOutOfSyncReplicas``)."""
        if self.role is not Role.LEADER or self.pending_isr is not None:
            return frozenset()
        now_ms, leader_end = self._clock.now_ms(), self.log.log_end_offset
        return frozenset(
            node
            for node in self.isr
            if node != self.node_id
            and not self.followers[node].caught_up(leader_end, now_ms, max_lag_ms)
        )

    def expand_candidates(self) -> frozenset[int]:
        """Replicas out of the ISR whose log reaches the high watermark and this leader
        epoch's start (none while a change is pending). Whether a broker may join at all
        (registered, not fenced) is the caller's to check."""
        if self.role is not Role.LEADER or self.pending_isr is not None:
            return frozenset()
        return frozenset(
            node
            for node, state in self.followers.items()
            if node not in self.isr and self._may_join(state)
        )

    def _may_join(self, follower: FollowerState) -> bool:
        end = follower.log_end_offset
        return end >= self.high_watermark and end >= self.leader_epoch_start_offset

    def propose_isr(self, isr: Iterable[int]) -> PendingIsr:
        """Record ``isr`` as proposed to the controller; until it is settled the high
        watermark counts the maximal ISR and no other change is proposed."""
        pending = PendingIsr(frozenset(isr), self.isr, self.leader_epoch, self.partition_epoch)
        self.pending_isr = pending
        return pending

    def isr_accepted(
        self, pending: PendingIsr, leader_epoch: int, isr: Iterable[int], partition_epoch: int
    ) -> bool:
        """The controller's answer to ``pending``: the partition's ISR at
        ``partition_epoch``. Applied unless the partition moved on meanwhile (a newer image,
        another leader epoch, an older partition epoch); whether it was applied."""
        if pending is not self.pending_isr or self.role is not Role.LEADER:
            return False
        if leader_epoch != self.leader_epoch or partition_epoch < self.partition_epoch:
            return False
        self.isr = frozenset(isr)
        self.partition_epoch = partition_epoch
        self.pending_isr = None
        self._follow_assignment(new_epoch=False, new_leader=False)
        self._advance_high_watermark()  # a smaller ISR may let it move on
        return True

    def isr_refused(self, pending: PendingIsr, error: ErrorCode) -> bool:
        """The controller refused ``pending``; whether to send it again (Kafka's
        ``Partition.handleAlterPartitionError``). OPERATION_NOT_ATTEMPTED and
        INELIGIBLE_REPLICA say it was not applied: back to the committed ISR. A stale or
        unknown partition, leader epoch or partition epoch (and INVALID_REQUEST,
        NEW_LEADER_ELECTED) leave it pending until a newer image replaces it. Anything else
        is retried."""
        if pending is not self.pending_isr:
            return False
        if error in (ErrorCode.operation_not_attempted, ErrorCode.ineligible_replica):
            self.pending_isr = None
            self._advance_high_watermark()  # a refused newcomer no longer holds it back
            return False
        return error not in _AWAIT_NEW_IMAGE

    def diverging_epoch(self, fetch_offset: int, last_fetched_epoch: int) -> tuple[int, int] | None:
        """The leader's check of a replica fetch (KIP-320): where the follower's log leaves
        this one, as ``(epoch, end offset)`` of the largest epoch here at most the follower's
        last one, when that epoch is older or ends before ``fetch_offset``; None when the
        follower's log agrees (or it names no epoch)."""
        if last_fetched_epoch < 0:
            return None
        epoch, end_offset = self.log.end_offset_for_epoch(last_fetched_epoch)
        if epoch < last_fetched_epoch or end_offset < fetch_offset:
            return epoch, end_offset
        return None

    # -- the follower's log -------------------------------------------------------------

    @property
    def last_fetched_epoch(self) -> int:
        """The epoch of the newest batch this replica holds, or began leading in (-1: none)."""
        return self.log.latest_epoch

    def append_as_follower(self, records: bytes, headers: list[BatchHeader], now_ms: int) -> None:
        """Store batches fetched from the leader as they are (``PartitionLog``'s rules)."""
        self.log.append_as_follower(records, headers, now_ms)

    def follow_high_watermark(self, leader_high_watermark: int) -> None:
        """A follower's high watermark: the leader's, as far as this log reaches (it may
        move back, as Kafka's follower's does, after the leader changed)."""
        log = self.log
        self.high_watermark = max(
            log.log_start_offset, min(leader_high_watermark, log.log_end_offset)
        )

    def follow_log_start(self, leader_log_start_offset: int) -> None:
        """Records the leader no longer holds are gone here too, up to the high watermark
        (Kafka's follower moves its log start with the leader's), and so are the segments
        wholly below; the next fetch tells the leader (a DeleteRecords waits for that)."""
        offset = min(leader_log_start_offset, self.high_watermark)
        if offset > self.log.log_start_offset:
            with contextlib.suppress(StorageError):  # the disk's health said it; files stay
                self.log.advance_log_start(offset)

    def start_at(self, offset: int) -> None:
        """Empty the log and start it at ``offset``: the leader's log starts past this log's
        end, or its first batch begins before this empty log's start."""
        self.log.truncate_fully_and_start_at(offset)
        self.high_watermark = offset

    def truncate_to_leader(self, epoch: int, end_offset: int) -> int:
        """Cut the suffix where this log diverges from the leader's, which answered a fetch
        with ``diverging_epoch`` ``(epoch, end_offset)``; returns the new log end offset.

        Kafka's follower rule (KIP-279): when this log knows ``epoch`` too, it keeps up to
        the smaller of the two ends of that epoch; when not, it cuts to the end of its own
        largest epoch below, and its next fetch asks again from there. Never by the high
        watermark (KIP-101)."""
        log = self.log
        if end_offset < 0:  # the leader knows no epoch this old: nothing to compare
            return log.log_end_offset
        own_epoch, own_end = log.end_offset_for_epoch(epoch)
        if own_epoch == epoch:
            target = min(own_end, end_offset)
        elif own_epoch >= 0:
            target = own_end
        else:  # no epoch at or below it here: the leader's end is the bound
            target = end_offset
        if target < log.log_start_offset:  # below what retention left: nothing is kept
            self.start_at(target)
            return target
        log.truncate_to(min(target, log.log_end_offset))
        self.high_watermark = min(self.high_watermark, log.log_end_offset)
        return log.log_end_offset

    # -- reading ------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, *, to_log_end: bool = False) -> FileSlice | None:
        """Whole batches from ``offset``, below the high watermark (a replica fetch: below
        the log end offset). Raises OffsetOutOfRange."""
        limit = self.log.log_end_offset if to_log_end else self.high_watermark
        return self.log.read(offset, max_bytes, limit)

    def offset_for_timestamp(self, timestamp_ms: int) -> TimestampAndOffset | None:
        return self.log.offset_for_timestamp(timestamp_ms)

    def max_timestamp(self) -> TimestampAndOffset | None:
        return self.log.max_timestamp()

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (the largest epoch at most ``epoch``, its end offset)."""
        return self.log.end_offset_for_epoch(epoch)

    def add_waiter(self, waiter: asyncio.Future[None], *, on_append: bool = False) -> None:
        """``waiter`` is resolved when the high watermark next moves or this node stops
        leading the partition; with ``on_append`` (a replica fetch) also when a batch is
        next appended."""
        self._waiters.add(waiter)
        if on_append:
            self._append_waiters.add(waiter)

    def remove_waiter(self, waiter: asyncio.Future[None]) -> None:
        self._waiters.discard(waiter)
        self._append_waiters.discard(waiter)

    @staticmethod
    def _wake(waiters: set[asyncio.Future[None]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        waiters.clear()
