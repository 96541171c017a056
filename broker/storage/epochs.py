"""The leader-epoch cache of one partition (KIP-101), persisted in ``leader-epoch-checkpoint``.

Entries ``(epoch, start_offset)`` increase in both fields: ``start_offset`` is the first
offset written under ``epoch``. Every change is written to the checkpoint atomically.
"""

from __future__ import annotations

from pathlib import Path

from broker.storage.checkpoint import LEADER_EPOCH_CHECKPOINT, read_epochs, write_epochs

UNDEFINED = -1


class LeaderEpochCache:
    def __init__(self, directory: Path) -> None:
        self.path = directory / LEADER_EPOCH_CHECKPOINT
        self.entries: list[tuple[int, int]] = read_epochs(self.path)

    @property
    def latest_epoch(self) -> int:
        return self.entries[-1][0] if self.entries else UNDEFINED

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that ``epoch`` starts at ``start_offset`` (Kafka's ``assign``): a no-op for
        the latest epoch at or after its start; otherwise entries that do not precede the new
        one in both fields are dropped first."""
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"epoch {epoch} and start offset {start_offset} must be >= 0")
        if self.entries:
            latest_epoch, latest_start = self.entries[-1]
            if epoch == latest_epoch and start_offset >= latest_start:
                return
        self.entries = [(e, s) for e, s in self.entries if e < epoch and s < start_offset]
        self.entries.append((epoch, start_offset))
        self._persist()

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch, as Kafka's ``LeaderEpochFileCache.endOffsetFor`` answers it.

        The latest epoch ends at the log end offset. An older epoch ends where the next higher
        known epoch starts, and the answer names the largest known epoch <= the requested one,
        or the requested epoch itself when none is smaller. An epoch above every known epoch,
        or any epoch when the cache is empty, gives ``(-1, -1)``.
        """
        if epoch == UNDEFINED or not self.entries:
            return UNDEFINED, UNDEFINED
        if epoch == self.latest_epoch:
            return epoch, log_end_offset
        higher = next(((e, s) for e, s in self.entries if e > epoch), None)
        if higher is None:
            return UNDEFINED, UNDEFINED
        floor = [e for e, _ in self.entries if e <= epoch]
        return (floor[-1] if floor else epoch), higher[1]

    def truncate_from_end(self, end_offset: int) -> None:
        """After the log was cut at ``end_offset``: drop epochs starting at or after it."""
        kept = [(e, s) for e, s in self.entries if s < end_offset]
        if kept != self.entries:
            self.entries = kept
            self._persist()

    def clear(self) -> None:
        """Forget every epoch (the log was emptied)."""
        if self.entries:
            self.entries = []
            self._persist()

    def truncate_from_start(self, start_offset: int) -> None:
        """After the log start moved to ``start_offset``: the epoch in force there now starts
        there, and the epochs before it go."""
        before = [(e, s) for e, s in self.entries if s <= start_offset]
        if not before:
            return
        kept = [(before[-1][0], start_offset), *self.entries[len(before) :]]
        if kept != self.entries:
            self.entries = kept
            self._persist()

    def _persist(self) -> None:
        write_epochs(self.path, self.entries)
