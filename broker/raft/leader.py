"""The leader's bookkeeping for one epoch (Kafka's ``LeaderState``): how far each replica has
fetched and when, the offset a majority of voters holds, and the check-quorum window."""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.raft.messages import ReplicaInfo

NEVER = -1


@dataclass(slots=True)
class ReplicaProgress:
    end_offset: int = 0
    last_fetch: int = NEVER
    last_caught_up: int = NEVER
    leader_end_at_last_fetch: int = 0
    last_contact: int = NEVER
    """The last Fetch or FetchSnapshot from it in this epoch."""


@dataclass(slots=True)
class LeaderState:
    node_id: int
    voters: frozenset[int]
    epoch_start_offset: int
    """Where this epoch's LeaderChange record sits: nothing is committed until it is."""
    check_quorum_timeout_ms: int
    check_quorum_deadline: int | None
    replicas: dict[int, ReplicaProgress] = field(default_factory=dict)
    _fetched_voters: set[int] = field(default_factory=set)

    @classmethod
    def start(
        cls,
        node_id: int,
        voters: frozenset[int],
        epoch_start_offset: int,
        now: int,
        fetch_timeout_ms: int,
    ) -> LeaderState:
        # Kafka gives a majority 1.5 fetch timeouts to be heard from; a quorum of one never
        # expires.
        timeout = fetch_timeout_ms * 3 // 2
        return cls(
            node_id,
            voters,
            epoch_start_offset,
            timeout,
            now + timeout if len(voters) > 1 else None,
            {v: ReplicaProgress() for v in voters if v != node_id},
        )

    def record_fetch(self, replica_id: int, fetch_offset: int, leader_end: int, now: int) -> None:
        """A valid Fetch from ``replica_id``: its log ends at ``fetch_offset``. Caught up means
        it had everything the leader had when it fetched before (Kafka's lastCaughtUpTime)."""
        replica = self.replicas.setdefault(replica_id, ReplicaProgress())
        if fetch_offset >= leader_end:
            replica.last_caught_up = now
        elif fetch_offset >= replica.leader_end_at_last_fetch:
            replica.last_caught_up = replica.last_fetch
        replica.end_offset = fetch_offset
        replica.last_fetch = now
        replica.leader_end_at_last_fetch = leader_end
        self.record_contact(replica_id, now)

    def record_contact(self, replica_id: int, now: int) -> None:
        """``replica_id`` is following this leader (a Fetch, or a replica loading a snapshot):
        it counts for check-quorum."""
        self.replicas.setdefault(replica_id, ReplicaProgress()).last_contact = now
        if replica_id in self.voters:
            self._fetched_voters.add(replica_id)
            if len(self._fetched_voters) + 1 >= len(self.voters) // 2 + 1:
                self._fetched_voters.clear()
                self.check_quorum_deadline = now + self.check_quorum_timeout_ms

    def majority_offset(self, own_end: int) -> int | None:
        """The end offset a majority of voters (this leader counted with ``own_end``, what it
        has fsynced) holds, or None while this epoch's first entry is not among it."""
        ends = [r.end_offset for v, r in self.replicas.items() if v in self.voters]
        ends.append(own_end)
        ends.sort(reverse=True)
        offset = ends[len(self.voters) // 2]
        return offset if offset > self.epoch_start_offset else None

    def silent_voters(self, since: int) -> list[int]:
        """The other voters that have not fetched from this leader since ``since``."""
        return sorted(
            v for v, r in self.replicas.items() if v in self.voters and r.last_contact < since
        )

    def first_silence(self, quiet: int) -> int | None:
        """The earliest time at which a voter can be among ``silent_voters(time - quiet)``
        with no fetch before it (None: there is no other voter)."""
        contacts = [r.last_contact for v, r in self.replicas.items() if v in self.voters]
        return min(contacts) + quiet + 1 if contacts else None

    def successors(self) -> tuple[int, ...]:
        """The other voters, the furthest replicated first (EndQuorumEpoch's order)."""
        others = [v for v in self.voters if v != self.node_id]
        return tuple(sorted(others, key=lambda v: (-self.replicas[v].end_offset, v)))

    def describe(self, own_end: int, now: int) -> tuple[list[ReplicaInfo], list[ReplicaInfo]]:
        rows = {
            rid: ReplicaInfo(rid, r.end_offset, r.last_fetch, r.last_caught_up)
            for rid, r in self.replicas.items()
        }
        rows[self.node_id] = ReplicaInfo(self.node_id, own_end, now, now)
        voters = [rows[v] for v in sorted(self.voters)]
        observers = [rows[o] for o in sorted(rows) if o not in self.voters]
        return voters, observers
