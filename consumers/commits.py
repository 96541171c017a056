"""Commits that wait for their results' acknowledgements without making the worker wait.

A worker may commit a partition's run start only once every result it produced before that
point has been acknowledged (``consumers.worker``). Waiting for those acks with
``Producer.flush`` would stop the worker reading for a full acks=all round trip every commit
interval, and for as long as a dead leader's partitions take to move. Instead a checkpoint
notes the offsets to commit and how many results had been produced when it was taken, and
becomes ready once none of those is still unacknowledged; the worker keeps reading meanwhile
and commits the newest ready checkpoint.

Results are numbered in the order they were produced. A result whose delivery failed stays
unacknowledged for good, so no checkpoint taken after it ever becomes ready.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class Checkpoint:
    produced: int  # results produced before it: numbers 0 .. produced - 1
    offsets: dict[int, int]  # source partition -> offset to commit


class PendingCommits:
    """The results not yet acknowledged and the checkpoints waiting for them."""

    def __init__(self) -> None:
        self.produced = 0
        self.unacknowledged: set[int] = set()
        self.waiting: deque[Checkpoint] = deque()

    def sent(self) -> int:
        """Count one more result produced; returns its number, for ``acknowledged``."""
        number = self.produced
        self.produced += 1
        self.unacknowledged.add(number)
        return number

    def acknowledged(self, number: int) -> None:
        self.unacknowledged.discard(number)

    def take(self, offsets: dict[int, int]) -> None:
        """A checkpoint of ``offsets``, to commit once every result produced so far is acked."""
        self.waiting.append(Checkpoint(self.produced, dict(offsets)))

    def ready(self) -> dict[int, int]:
        """The offsets of the newest checkpoint whose results are all acknowledged, with the
        partitions of older ready ones it does not name ({} if none is ready). The checkpoints
        returned are done with."""
        first_unacknowledged = min(self.unacknowledged, default=self.produced)
        offsets: dict[int, int] = {}
        while self.waiting and self.waiting[0].produced <= first_unacknowledged:
            offsets |= self.waiting.popleft().offsets
        return offsets

    def waiting_for(self, partition: int, offset: int) -> bool:
        """Whether a checkpoint not yet returned by ``ready`` commits ``partition`` at
        ``offset``."""
        return any(checkpoint.offsets.get(partition) == offset for checkpoint in self.waiting)

    def withdraw(self, partition: int, offset: int) -> None:
        """Drop ``partition`` from the waiting checkpoints that commit it at ``offset``; the
        others still commit it where they say."""
        for checkpoint in self.waiting:
            if checkpoint.offsets.get(partition) == offset:
                del checkpoint.offsets[partition]

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop ``partitions`` from the waiting checkpoints: they were committed by a newer
        checkpoint already, or this worker no longer owns them."""
        for partition in partitions:
            for checkpoint in self.waiting:
                checkpoint.offsets.pop(partition, None)
