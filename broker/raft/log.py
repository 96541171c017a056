"""The replicated log as the core sees it: entries in memory and the epoch of each run of them.

Offsets start at 0 and are list positions (snapshots, which would move the start, are not
built yet). ``epoch_starts`` is the leader-epoch cache of KIP-101: the first offset written
under each epoch, both fields increasing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from broker.raft.messages import Entry


class RaftLog:
    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries: list[Entry] = []
        self.epoch_starts: list[tuple[int, int]] = []
        self.append(entries)

    @property
    def end_offset(self) -> int:
        return len(self.entries)

    @property
    def last_epoch(self) -> int:
        """The epoch of the last entry, 0 for an empty log."""
        return self.epoch_starts[-1][0] if self.epoch_starts else 0

    def append(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            if entry.epoch < self.last_epoch:
                raise ValueError(f"entry of epoch {entry.epoch} after epoch {self.last_epoch}")
            if entry.epoch > self.last_epoch:
                self.epoch_starts.append((entry.epoch, len(self.entries)))
            self.entries.append(entry)

    def truncate(self, end_offset: int) -> None:
        """Drop every entry at ``end_offset`` and after."""
        del self.entries[end_offset:]
        while self.epoch_starts and self.epoch_starts[-1][1] >= end_offset:
            self.epoch_starts.pop()

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """The largest epoch of this log not after ``epoch`` and the offset just past its last
        entry (Kafka's ``endOffsetForEpoch``); ``(0, 0)`` when every entry is of a later epoch."""
        i = bisect_right(self.epoch_starts, (epoch, float("inf"))) - 1
        if i < 0:
            return 0, 0
        found = self.epoch_starts[i][0]
        end = self.epoch_starts[i + 1][1] if i + 1 < len(self.epoch_starts) else self.end_offset
        return found, end
