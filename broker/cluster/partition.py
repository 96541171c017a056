"""One partition as its leader sees it: the log, the leader epoch, the high watermark."""

from __future__ import annotations

import asyncio

from broker.protocol.batch import BatchHeader
from broker.storage.log import FileSlice, PartitionLog


class Partition:
    """A partition led by this node. Single-node: the high watermark is the log end offset."""

    __slots__ = ("_waiters", "high_watermark", "index", "leader_epoch", "log", "topic")

    def __init__(self, topic: str, index: int, log: PartitionLog, leader_epoch: int) -> None:
        self.topic = topic
        self.index = index
        self.log = log
        self.leader_epoch = leader_epoch
        self.high_watermark = log.log_end_offset
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    def append(self, records: bytes, headers: list[BatchHeader], now_ms: int) -> int:
        """Append validated batches; returns the base offset and wakes waiting fetches."""
        try:
            base_offset = self.log.append(records, headers, self.leader_epoch, now_ms)
        finally:  # a flush that fails after the write leaves the batch in the log
            self.high_watermark = self.log.log_end_offset
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()
        return base_offset

    def read(self, offset: int, max_bytes: int) -> FileSlice | None:
        """Whole batches from ``offset``, below the high watermark. Raises OffsetOutOfRange."""
        return self.log.read(offset, max_bytes, self.high_watermark)

    def add_waiter(self, waiter: asyncio.Future[None]) -> None:
        self._waiters.add(waiter)

    def remove_waiter(self, waiter: asyncio.Future[None]) -> None:
        self._waiters.discard(waiter)
