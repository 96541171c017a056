"""One local replica of a partition: its log, its role, its ISR and its high watermark.

The leader's high watermark is the smallest log end offset over the ISR (its own, and what
each follower's fetches told it); it never goes backwards. On one node the ISR is the node
itself, so the high watermark is the log end offset, as before replication. The replica also
holds the rules a leader applies before serving: leader-epoch fencing (KIP-320) and
``min.insync.replicas`` for acks=all.
"""

from __future__ import annotations

import asyncio
from enum import Enum

from kio.schema.errors import ErrorCode

from broker.protocol.batch import BatchHeader
from broker.storage.config import LogConfig
from broker.storage.log import PartitionLog
from broker.storage.segment import FileSlice, TimestampAndOffset

ALL_ACKS = -1


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
    ``isr`` says otherwise, and ``high_watermark`` as the checkpoint left it."""

    __slots__ = (
        "_append_waiters",
        "_waiters",
        "follower_end_offsets",
        "follower_high_watermarks",
        "high_watermark",
        "index",
        "isr",
        "leader_epoch",
        "leader_id",
        "log",  # the partition's log: the replica and its manager use it, no handler does
        "node_id",
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
        high_watermark: int = 0,
    ) -> None:
        self.topic = topic
        self.index = index
        self.log = log
        self.node_id = node_id
        self.role = Role.LEADER
        self.leader_id = node_id
        self.leader_epoch = leader_epoch
        self.isr: frozenset[int] = frozenset((node_id,)) if isr is None else isr
        # Each follower's log end offset, as its last fetch told us (none on one node).
        self.follower_end_offsets: dict[int, int] = {}
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

    def become_leader(self, leader_epoch: int, isr: frozenset[int]) -> None:
        """Lead from ``leader_epoch`` on: batches appended from now carry it."""
        self.role = Role.LEADER
        self.leader_id = self.node_id
        self.isr = isr
        if leader_epoch != self.leader_epoch:
            self.log.assign_epoch(leader_epoch, self.log.log_end_offset)
        self.leader_epoch = leader_epoch
        self.follower_end_offsets = {
            node: self.follower_end_offsets.get(node, 0) for node in isr if node != self.node_id
        }
        self._advance_high_watermark()

    def become_follower(self, leader_id: int, leader_epoch: int) -> None:
        """Follow ``leader_id`` (-1: no leader for now): refuse produce and consumer fetches
        from now on, and wake waiting fetches so they answer so. The log is not truncated
        here, to the high watermark or otherwise (KIP-101): the fetcher truncates it once
        the leader names where the two diverge."""
        self.role = Role.FOLLOWER
        self.leader_id = leader_id
        self.leader_epoch = leader_epoch
        self.follower_end_offsets = {}
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

    def update_follower(self, node_id: int, log_end_offset: int) -> None:
        """A follower's fetch told us how far its log reaches."""
        self.follower_end_offsets[node_id] = log_end_offset
        self._advance_high_watermark()

    def _advance_high_watermark(self) -> None:
        """HW = the smallest log end offset over the ISR, never moving backwards."""
        ends = self.follower_end_offsets
        lowest = self.log.log_end_offset
        for node in self.isr:
            if node != self.node_id:
                lowest = min(lowest, ends.get(node, 0))
        if lowest > self.high_watermark:
            self.high_watermark = lowest
            self._wake(self._waiters)

    @staticmethod
    def _wake(waiters: set[asyncio.Future[None]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        waiters.clear()

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
        (Kafka's follower moves its log start with the leader's)."""
        offset = min(leader_log_start_offset, self.high_watermark)
        if offset > self.log.log_start_offset:
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
        """``waiter`` is resolved when the high watermark next moves, or the role changes;
        with ``on_append`` (a replica fetch) also when a batch is next appended."""
        self._waiters.add(waiter)
        if on_append:
            self._append_waiters.add(waiter)

    def remove_waiter(self, waiter: asyncio.Future[None]) -> None:
        self._waiters.discard(waiter)
        self._append_waiters.discard(waiter)
