"""An in-memory metadata log for the quorum controller's unit tests.

It keeps what ``RaftRuntime`` promises the controller: entries at consecutive offsets from 0,
a leader-change entry at the start of each epoch this node leads, ``on_commit`` once per
committed entry in offset order, and ``append`` returning the last offset once committed or
raising NotLeaderError. It commits at once, or, with ``hold`` set, only when the test calls
:meth:`commit`; :meth:`lose_leadership` makes held appends fail as a resigned leader's do.
Snapshots taken are kept in ``snapshots``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from broker.metadata.codec import decode, encode
from broker.metadata.records import MetadataRecord
from broker.raft.core import NotLeaderError
from broker.raft.messages import Entry


class MemoryLog:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.committed = 0  # entries below this offset are committed
        self.announced = 0  # and those below this one were given to the subscribers
        self.is_leader = False
        self.epoch = 0
        self.leader_id = -1
        self.hold = False
        self._subscribers: list[Callable[[int, Entry], None]] = []
        self._waiting: list[tuple[int, asyncio.Future[int]]] = []
        self.snapshots: list[tuple[int, bytes]] = []  # (end offset, data), oldest first

    def subscribe(
        self,
        on_commit: Callable[[int, Entry], None],
        on_snapshot: Callable[[int, bytes], None] | None = None,
    ) -> None:
        self._subscribers.append(on_commit)  # this log hands over no snapshots

    async def append(self, values: Sequence[bytes]) -> int:
        if not self.is_leader:
            raise NotLeaderError(self.leader_id, self.epoch)
        for value in values:
            self.entries.append(Entry(self.epoch, value))
        last = len(self.entries) - 1
        if not self.hold:
            self.commit()
            return last
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append((last, waiter))
        return await waiter

    def commit(self, *, announce: bool = True) -> None:
        """Commit every entry appended so far. With ``announce`` False the appends waiting
        for it return before the subscribers hear of it (call :meth:`announce` later)."""
        self.committed = len(self.entries)
        if announce:
            self.announce()
        for offset, waiter in self._waiting:
            waiter.set_result(offset)
        self._waiting = []

    def announce(self) -> None:
        """Tell the subscribers of every committed entry they have not heard of."""
        while self.announced < self.committed:
            offset = self.announced
            self.announced += 1
            for on_commit in self._subscribers:
                on_commit(offset, self.entries[offset])

    # -- the quorum around this node, as the test wants it ----------------------------------

    def become_leader(self, node_id: int = 0) -> None:
        """This node wins the next epoch and commits its leader-change entry."""
        self.epoch += 1
        self.is_leader, self.leader_id = True, node_id
        self.entries.append(Entry(self.epoch, b"", leader_change=True))
        held, self.hold = self.hold, False
        self.commit()
        self.hold = held

    def lose_leadership(self, new_leader: int = 1) -> None:
        """Another node leads a new epoch; appends still waiting fail."""
        self.epoch += 1
        self.is_leader, self.leader_id = False, new_leader
        del self.entries[self.committed :]  # the new leader truncates what was not committed
        for _, waiter in self._waiting:
            waiter.set_exception(NotLeaderError(new_leader, self.epoch))
        self._waiting = []

    def replicate(self, epoch: int, records: Sequence[MetadataRecord]) -> None:
        """Another leader's entry (with its leader change first, if its epoch is new)
        arrives here committed."""
        if epoch > self.epoch:
            self.epoch, self.is_leader = epoch, False
            self.entries.append(Entry(epoch, b"", leader_change=True))
        self.entries.append(Entry(epoch, encode(records)))
        self.commit()

    async def take_snapshot(self, end_offset: int, data: bytes) -> None:
        """Keep a snapshot of the entries below ``end_offset`` (in ``snapshots``)."""
        last = self.snapshots[-1][0] if self.snapshots else 0
        if not last < end_offset <= self.announced:
            raise ValueError(f"no snapshot at {end_offset}: the log starts at {last}")
        self.snapshots.append((end_offset, data))

    def records(self) -> list[MetadataRecord]:
        """Every record in the log, in order."""
        return [r for e in self.entries if not e.leader_change for r in decode(e.value)]
