"""The replicated log as the core sees it: entries in memory and the epoch of each run of them.

The log starts at ``start_offset``: 0, or the end offset of the snapshot that replaced every
entry below it (KIP-630), whose epoch is ``start_epoch``. ``entries[i]`` is the entry at offset
``start_offset + i``. ``epoch_starts`` is the leader-epoch cache of KIP-101 for the entries
held: the first offset written under each epoch, both fields increasing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from broker.raft.messages import Entry, SnapshotId


class RaftLog:
    def __init__(self, entries: Iterable[Entry] = (), start_offset: int = 0) -> None:
        self.start_offset = start_offset
        self.start_epoch = 0
        self.entries: list[Entry] = []
        self.epoch_starts: list[tuple[int, int]] = []
        self.append(entries)

    @property
    def end_offset(self) -> int:
        return self.start_offset + len(self.entries)

    @property
    def last_epoch(self) -> int:
        """The epoch of the last entry (of the snapshot's last one for an empty log), 0 for an
        empty log that starts at 0."""
        return self.epoch_starts[-1][0] if self.epoch_starts else self.start_epoch

    def entry(self, offset: int) -> Entry:
        return self.entries[offset - self.start_offset]

    def read(self, offset: int, limit: int) -> tuple[Entry, ...]:
        """Up to ``limit`` entries from ``offset`` on (which must not be below the start)."""
        first = offset - self.start_offset
        return tuple(self.entries[first : first + limit])

    def epoch_at(self, offset: int) -> int | None:
        """The epoch of the entry at ``offset``: the snapshot's for the one just below the
        start, None when this log does not know it."""
        if offset == self.start_offset - 1 and self.start_offset > 0:
            return self.start_epoch
        if self.start_offset <= offset < self.end_offset:
            return self.entry(offset).epoch
        return None

    def append(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            if entry.epoch < self.last_epoch:
                raise ValueError(f"entry of epoch {entry.epoch} after epoch {self.last_epoch}")
            if entry.epoch > self.last_epoch or not self.epoch_starts:
                self.epoch_starts.append((entry.epoch, self.end_offset))
            self.entries.append(entry)

    def truncate(self, end_offset: int) -> None:
        """Drop every entry at ``end_offset`` and after (not below the start)."""
        del self.entries[max(end_offset - self.start_offset, 0) :]
        while self.epoch_starts and self.epoch_starts[-1][1] >= end_offset:
            self.epoch_starts.pop()

    def drop_before(self, snapshot_id: SnapshotId) -> None:
        """Start the log at the end of ``snapshot_id``, which this log agrees with: the entries
        below it go, the ones after stay."""
        end, epoch = snapshot_id
        ends = [offset for _, offset in self.epoch_starts[1:]] + [self.end_offset]
        self.epoch_starts = [
            (run_epoch, max(start, end))
            for (run_epoch, start), run_end in zip(self.epoch_starts, ends, strict=True)
            if run_end > end
        ]
        del self.entries[: end - self.start_offset]
        self.start_offset, self.start_epoch = end, epoch

    def reset(self, snapshot_id: SnapshotId) -> None:
        """Drop every entry and start empty at the end of ``snapshot_id`` (Kafka's
        ``truncateFullyAndStartAt``)."""
        self.entries = []
        self.epoch_starts = []
        self.start_offset, self.start_epoch = snapshot_id

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """The largest epoch of this log not after ``epoch`` and the offset just past its last
        entry (Kafka's ``endOffsetForEpoch``). For an ``epoch`` before every entry held, the
        snapshot's epoch and the start (``(0, 0)`` with no snapshot)."""
        i = bisect_right(self.epoch_starts, (epoch, float("inf"))) - 1
        if i < 0:
            return self.start_epoch, self.start_offset
        found = self.epoch_starts[i][0]
        end = self.epoch_starts[i + 1][1] if i + 1 < len(self.epoch_starts) else self.end_offset
        return found, end
