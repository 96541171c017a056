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
        "_waiters",
        "follower_end_offsets",
        "high_watermark",
        "index",
        "isr",
        "leader_epoch",
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
        self.leader_epoch = leader_epoch
        self.isr: frozenset[int] = frozenset((node_id,)) if isr is None else isr
        # Each follower's log end offset, as its last fetch told us (none on one node).
        self.follower_end_offsets: dict[int, int] = {}
        self.high_watermark = min(high_watermark, log.log_end_offset)  # the checkpoint's
        self._waiters: set[asyncio.Future[None]] = set()
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
        self.isr = isr
        if leader_epoch != self.leader_epoch:
            self.log.assign_epoch(leader_epoch, self.log.log_end_offset)
        self.leader_epoch = leader_epoch
        self.follower_end_offsets = {
            node: self.follower_end_offsets.get(node, 0) for node in isr if node != self.node_id
        }
        self._advance_high_watermark()

    def become_follower(self, leader_epoch: int) -> None:
        """Follow another leader: refuse produce and consumer fetches from now on."""
        self.role = Role.FOLLOWER
        self.leader_epoch = leader_epoch
        self.follower_end_offsets = {}
        self._wake()  # waiting acks=all produces answer NOT_LEADER_OR_FOLLOWER

    def stop(self) -> None:
        """This node no longer holds the partition (deleted, or moved off it): serve nothing
        more; waiting acks=all produces answer NOT_LEADER_OR_FOLLOWER."""
        self.role = Role.FOLLOWER
        self._wake()

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
            self._wake()

    def acks_status(self, required_offset: int) -> ErrorCode | None:
        """The answer to an acks=all produce whose batches end just before
        ``required_offset``, or None while it must wait (Kafka's
        ``Partition.checkEnoughReplicasReachOffset``)."""
        if self.role is not Role.LEADER:
            return ErrorCode.not_leader_or_follower
        if self.high_watermark < required_offset:
            return None
        if len(self.isr) < self.log.config.min_insync_replicas:
            return ErrorCode.not_enough_replicas_after_append
        return ErrorCode.none

    # -- reading ------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int) -> FileSlice | None:
        """Whole batches from ``offset``, below the high watermark. Raises OffsetOutOfRange."""
        return self.log.read(offset, max_bytes, self.high_watermark)

    def offset_for_timestamp(self, timestamp_ms: int) -> TimestampAndOffset | None:
        return self.log.offset_for_timestamp(timestamp_ms)

    def max_timestamp(self) -> TimestampAndOffset | None:
        return self.log.max_timestamp()

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (the largest epoch at most ``epoch``, its end offset)."""
        return self.log.end_offset_for_epoch(epoch)

    def add_waiter(self, waiter: asyncio.Future[None]) -> None:
        """``waiter`` is resolved when the high watermark next moves or this node stops
        leading the partition."""
        self._waiters.add(waiter)

    def remove_waiter(self, waiter: asyncio.Future[None]) -> None:
        self._waiters.discard(waiter)

    def _wake(self) -> None:
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()
