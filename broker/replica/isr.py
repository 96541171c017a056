"""What a partition leader knows about its followers, and its ISR changes in flight.

:class:`FollowerState` is Kafka's ``Replica.updateFetchState``: every fetch of a follower
tells the leader the follower's log end offset, and when it was last *caught up*. A follower
is caught up at a fetch that reached the leader's log end offset of that moment; a fetch that
reached only the leader's log end offset of the follower's *previous* fetch shows it was
caught up at that previous fetch (so a steady stream of appends does not make a fast follower
look late). A follower not caught up for ``replica.lag.time.max.ms`` leaves the ISR.

:class:`PendingIsr` is an ISR the leader proposed to the controller (AlterPartition) and has
no answer for yet: one at a time per partition. While it is pending the high watermark is
computed over the *maximal* ISR, the committed one and the proposed one together (KIP-497), so
a shrink does not advance it before the controller accepted the smaller ISR.
"""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN_OFFSET = -1


@dataclass(slots=True)
class FollowerState:
    """One follower as the leader saw it in its fetches (all times in ms on the clock)."""

    log_end_offset: int = UNKNOWN_OFFSET
    log_start_offset: int = UNKNOWN_OFFSET  # as its last fetch said (DeleteRecords waits on it)
    last_caught_up_ms: int = 0
    last_fetch_leader_end_offset: int = UNKNOWN_OFFSET  # the leader's LEO at that fetch
    last_fetch_ms: int = 0

    def record_fetch(self, log_end_offset: int, leader_end_offset: int, now_ms: int) -> None:
        """A fetch at ``log_end_offset``, while the leader's log ended at
        ``leader_end_offset``."""
        if log_end_offset >= leader_end_offset:
            self.last_caught_up_ms = max(self.last_caught_up_ms, now_ms)
        elif log_end_offset >= self.last_fetch_leader_end_offset:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.log_end_offset = log_end_offset
        self.last_fetch_leader_end_offset = max(
            leader_end_offset, self.last_fetch_leader_end_offset
        )
        self.last_fetch_ms = now_ms

    def caught_up(self, leader_end_offset: int, now_ms: int, max_lag_ms: int) -> bool:
        """Whether the follower may stay in the ISR: it holds all the leader has, or it was
        caught up within ``max_lag_ms``."""
        return (
            self.log_end_offset == leader_end_offset
            or now_ms - self.last_caught_up_ms <= max_lag_ms
        )

    def reset(self, now_ms: int, in_sync: bool, new_leader: bool) -> None:
        """A new leader epoch starts on this node: an ISR member counts as caught up now, any
        other replica as never; a node that was not leading forgets the log end offsets it
        had (Kafka's ``Replica.resetReplicaState``)."""
        if new_leader:
            self.log_end_offset = self.log_start_offset = UNKNOWN_OFFSET
        self.last_fetch_leader_end_offset = UNKNOWN_OFFSET
        self.last_fetch_ms = 0
        self.last_caught_up_ms = now_ms if in_sync else 0


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: one proposal, one answer
class PendingIsr:
    """An ISR proposed to the controller from ``committed`` at ``partition_epoch``."""

    isr: frozenset[int]
    committed: frozenset[int]
    leader_epoch: int
    partition_epoch: int

    @property
    def maximal(self) -> frozenset[int]:
        """Every replica that may be in the ISR whichever way the controller answers."""
        return self.isr | self.committed
