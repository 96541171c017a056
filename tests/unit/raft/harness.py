"""A hand-driven quorum for rule-by-rule tests: cores on one manual clock, a mailbox of messages
sent but not yet delivered, and disks that hold what each core asked to persist. Nothing moves
unless the test delivers a message or advances the clock. Also helpers that drive one core
alone: ``leader_of`` an epoch, ``take`` its messages, ``fetch`` from it."""

from __future__ import annotations

import random
from collections.abc import Callable

from kio.schema.errors import ErrorCode

from broker.raft import ElectionState, Entry, QuorumConfig, RaftCore, Ready, Role, Snapshot
from broker.raft.messages import FetchRequest, FetchResponse, Message, VoteRequest, VoteResponse
from tests.support.raft_sim import Disk

CONFIG = QuorumConfig()


class Quorum:
    def __init__(
        self, voters: int, observers: int = 0, seed: int = 0, config: QuorumConfig = CONFIG
    ) -> None:
        self.voters = frozenset(range(voters))
        self.now = 0
        self.seed = seed
        self.config = config
        self.cores: dict[int, RaftCore] = {}
        self.disks: dict[int, Disk] = {}
        self.readies: dict[int, list[Ready]] = {}
        self.applied: dict[int, list[Entry]] = {}
        """Per node: the entries applied since it started or last loaded a snapshot."""
        self.loaded: dict[int, Snapshot | None] = {}
        """Per node: the snapshot its state machine loaded last."""
        self.mailbox: list[Message] = []
        self.delivered: list[Message] = []
        for node_id in range(voters + observers):
            self.start(node_id)

    def start(
        self, node_id: int, election: ElectionState | None = None, log: tuple[Entry, ...] = ()
    ) -> RaftCore:
        """Start (or restart) a node from what it persisted, or from the given state."""
        disk = self.disks.setdefault(node_id, Disk())
        if election is not None:
            disk.election = election
        if log:
            disk.log = list(log)
        core = RaftCore(
            node_id,
            self.voters,
            now_ms=self.now,
            rng=random.Random(self.seed * 100 + node_id),
            config=self.config,
            election_state=disk.election,
            log=list(disk.log),
            snapshot=disk.snapshot,
            log_start_offset=disk.log_start,
        )
        self.cores[node_id] = core
        self.applied[node_id] = []
        self.loaded[node_id] = None
        self.mailbox = [m for m in self.mailbox if m.destination != node_id]
        self.flush(node_id)
        return core

    def kill(self, node_id: int) -> None:
        """SIGKILL: the node stops; what it persisted stays on its disk for ``start``."""
        del self.cores[node_id]
        self.drop(lambda m: node_id in (m.source, m.destination))

    def flush(self, node_id: int) -> None:
        core = self.cores[node_id]
        while core.has_ready():
            ready = core.ready()
            self.readies.setdefault(node_id, []).append(ready)
            self.disks[node_id].persist(ready)
            self.mailbox.extend(ready.messages)
            if ready.load_snapshot is not None:
                self.loaded[node_id] = ready.load_snapshot
                self.applied[node_id] = []
            self.applied[node_id].extend(entry for _, entry in ready.committed)
            core.advance(ready)

    def take(self, match: Callable[[Message], bool]) -> list[Message]:
        taken = [m for m in self.mailbox if match(m)]
        self.mailbox = [m for m in self.mailbox if not match(m)]
        return taken

    def deliver(self, match: Callable[[Message], bool] = lambda m: True) -> int:
        """Deliver the matching messages now (not the ones they cause); returns how many."""
        messages = self.take(match)
        for message in messages:
            if message.destination not in self.cores:
                continue
            self.delivered.append(message)
            core = self.cores[message.destination]
            core.tick(self.now)
            core.step(message)
            self.flush(message.destination)
        return len(messages)

    def drop(self, match: Callable[[Message], bool] = lambda m: True) -> None:
        self.take(match)

    def advance(self, ms: int) -> None:
        self.now += ms
        for node_id, core in self.cores.items():
            core.tick(self.now)
            self.flush(node_id)

    def settle(
        self,
        until: Callable[[], bool],
        within_ms: int = 10_000,
        step_ms: int = 5,
        link: Callable[[Message], bool] = lambda m: True,
    ) -> int:
        """Deliver every message on the allowed links (others are dropped) and advance the
        clock by ``step_ms`` until ``until()``; returns the time it took."""
        start = self.now
        while not until():
            if self.now - start > within_ms:
                raise AssertionError(f"not reached within {within_ms} ms")
            rounds = 0
            while self.mailbox:
                rounds += 1
                if rounds > 1_000:
                    raise AssertionError(f"messages never stop at {self.now} ms: {self.mailbox}")
                self.drop(lambda m: not link(m) or m.destination not in self.cores)
                self.deliver(link)
            self.advance(step_ms)
        return self.now - start

    def leader(self) -> RaftCore | None:
        leaders = [c for c in self.cores.values() if c.role is Role.LEADER]
        return max(leaders, key=lambda c: c.epoch) if leaders else None


def between(*nodes: int) -> Callable[[Message], bool]:
    """A link filter: only messages whose both ends are among ``nodes``."""
    allowed = set(nodes)
    return lambda m: m.source in allowed and m.destination in allowed


def to(node: int, kind: type | None = None) -> Callable[[Message], bool]:
    return lambda m: m.destination == node and (kind is None or isinstance(m, kind))


VOTERS = frozenset({0, 1, 2})


def leader_of(epoch: int, log: list[Entry], node_id: int = 0) -> RaftCore:
    """A node that wins ``epoch``: it was a candidate and receives both votes."""
    core = RaftCore(
        node_id,
        VOTERS,
        now_ms=0,
        rng=random.Random(0),
        election_state=ElectionState(epoch=epoch - 1),
        log=log,
    )
    core.tick(10_000)  # election timeout, then pre-vote granted by both
    for message in take(core):
        if isinstance(message, VoteRequest):
            core.step(grant(message))
    for message in take(core):
        if isinstance(message, VoteRequest):
            core.step(grant(message))
    assert core.role is Role.LEADER and core.epoch == epoch
    take(core)
    return core


def grant(request: VoteRequest) -> VoteResponse:
    return VoteResponse(
        request.destination,
        request.source,
        request.correlation_id,
        ErrorCode.none,
        request.candidate_epoch - 1 if request.pre_vote else request.candidate_epoch,
        -1,
        True,
        request.pre_vote,
    )


def take(core: RaftCore) -> list[Message]:
    messages = []
    while core.has_ready():
        ready = core.ready()
        messages.extend(ready.messages)
        core.advance(ready)
    return messages


def fetch(leader: RaftCore, replica: int, offset: int, last_epoch: int) -> FetchResponse:
    leader.step(FetchRequest(replica, leader.node_id, 7, leader.epoch, offset, last_epoch))
    answers = [m for m in take(leader) if isinstance(m, FetchResponse) and m.destination == replica]
    if not answers:  # parked: nothing new; it is answered after fetch_max_wait_ms
        leader.tick(leader.now + CONFIG.fetch_max_wait_ms)
        answers = [m for m in take(leader) if isinstance(m, FetchResponse)]
    (answer,) = answers
    return answer
