"""A deterministic simulator for ``broker.raft``: several cores over a faulty simulated network.

One seed fixes everything: the cluster's size, the fault rates, and every loss, delay,
duplication, partition (two-way, one-way, a node cut off from all), crash (between two
``Ready``s, or in the middle of persisting one so its unfsynced part is lost), clean
shutdown (the leader resigns first), restart, and snapshot: every node's state machine
snapshots itself at random applied offsets, so restarted nodes start from snapshots and
nodes left behind catch up with FetchSnapshot (in chunks as small as 64 bytes). Time is
simulated: the run jumps from one event to the next, so ten simulated seconds cost
milliseconds.

A run has a chaos phase, then heals the network, restarts every node and checks that the
quorum makes progress again. Throughout it checks Raft's invariants:

- at most one leader per epoch;
- two logs holding an entry of the same epoch at one offset hold the same entries before it;
- every committed entry is in the log of every leader of a later epoch (the epoch it was
  committed in is bounded by the epoch of the first node seen applying it);
- no node applies two different entries at one offset (the committed prefix is one sequence),
  and the state machines agree: the checksum of a node's state after each offset it applies,
  or after the snapshot it loads, is the one every other node had there;
- once healed, a new entry is committed and applied by every node.

A broken invariant raises ``SimulationFailure`` naming the seed, with the last events of the
trace; ``CHIRPSTREAM_SEED=<seed>`` reruns that seed alone.
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from broker.raft import (
    ElectionState,
    Entry,
    QuorumConfig,
    QuorumStateError,
    RaftCore,
    Ready,
    Role,
)
from broker.raft.messages import (
    BeginQuorumEpochRequest,
    EndQuorumEpochRequest,
    FetchRequest,
    FetchSnapshotRequest,
    Message,
    Snapshot,
    VoteRequest,
    VoteResponse,
)

CHAOS_MS = 6_000
HEAL_DEADLINE_MS = 10_000
TRACE_TAIL = 60
REQUESTS = (
    VoteRequest,
    BeginQuorumEpochRequest,
    EndQuorumEpochRequest,
    FetchRequest,
    FetchSnapshotRequest,
)


class SimulationFailure(AssertionError):
    pass


@dataclass(slots=True)
class Disk:
    """What survives a crash: what the node fsynced. ``log[0]`` sits at offset ``log_start``."""

    election: ElectionState = field(default_factory=ElectionState)
    snapshot: Snapshot | None = None
    log_start: int = 0
    log: list[Entry] = field(default_factory=list)

    def persist(self, ready: Ready, steps: int | None = None) -> None:
        """Write ``ready`` in the order ``Ready`` prescribes, or only its first ``steps`` log
        steps (the snapshot, the truncation, the new start, then each entry) when a crash cuts
        the write short."""
        if ready.election_state is not None:
            self.election = ready.election_state
        for action in self.log_steps(ready)[:steps]:
            action()

    def log_steps(self, ready: Ready) -> list[Callable[[], None]]:
        steps: list[Callable[[], None]] = []
        snapshot, log_from, log_start = ready.snapshot, ready.log_from, ready.log_start_offset
        if snapshot is not None:
            steps.append(lambda: setattr(self, "snapshot", snapshot))
        if log_from is not None:
            steps.append(lambda: self._truncate(log_from))
        if log_start is not None:
            steps.append(lambda: self._start_at(log_start))
        steps += [partial(self.log.append, entry) for entry in ready.entries]
        return steps

    def _truncate(self, offset: int) -> None:
        if offset > self.log_start + len(self.log):
            raise SimulationFailure(f"asked to truncate at {offset}, past the log's end")
        del self.log[max(offset - self.log_start, 0) :]

    def _start_at(self, offset: int) -> None:
        del self.log[: offset - self.log_start]
        self.log_start = offset


@dataclass(slots=True)
class Node:
    node_id: int
    disk: Disk = field(default_factory=Disk)
    core: RaftCore | None = None
    incarnation: int = 0
    next_apply: int = 0
    state: bytearray = field(default_factory=bytearray)
    """The state machine: the record of every value applied, with its offset."""
    state_ends: dict[int, int] = field(default_factory=dict)
    """How long ``state`` was after each offset applied (a snapshot at k is a prefix of it)."""
    checksum: int = 0
    last_tick_pushed: int | None = None
    tear_next_ready: bool = False
    crash_after_vote: bool = False
    led_epochs: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Faults:
    loss: float
    duplicate: float
    reorder: float
    blocked: set[tuple[int, int]] = field(default_factory=set)


class Simulation:
    def __init__(
        self,
        seed: int,
        config: QuorumConfig | None = None,
        core: type[RaftCore] = RaftCore,
        snapshots: bool = True,
    ) -> None:
        self.seed = seed
        self.core_class = core
        self.rng = random.Random(seed)
        self.snapshots = snapshots
        voters = self.rng.choice((1, 3, 3, 3, 5))
        observers = self.rng.choice((0, 1, 1, 2))
        self.voters = frozenset(range(voters))
        self.nodes = {i: Node(i) for i in range(voters + observers)}
        self.faults = Faults(
            loss=self.rng.choice((0.0, 0.02, 0.1, 0.25)),
            duplicate=self.rng.choice((0.0, 0.02, 0.1)),
            reorder=self.rng.choice((0.0, 0.05, 0.2)),
        )
        chunk = self.rng.choice((64, 1024, 1 << 20)) if snapshots else 1 << 20
        self.config = config or QuorumConfig(fetch_snapshot_max_bytes=chunk)
        self.now = 0
        self._queue: list[tuple[int, int, str, object]] = []
        self._seq = 0
        self.trace: list[tuple[int, str, object]] = []
        self.leaders: dict[int, int] = {}
        self.committed: list[Entry] = []
        self.committed_by: list[int] = []  # per offset: an epoch it was committed in or before
        self.checksums: list[int] = []  # per offset: the state machines' checksum after it
        self.counts: dict[str, int] = dict.fromkeys(
            ("snapshots taken", "snapshots installed", "snapshots loaded at start", "chunks"), 0
        )
        self._next_value = 0
        self._marker: bytes | None = None
        self._connections: dict[tuple[int, int, int], int] = {}

    # ------------------------------------------------------------------- running

    def run(self) -> None:
        try:
            self._run()
        except QuorumStateError as error:
            self._fail(f"a core refused an impossible state: {error}")

    def _run(self) -> None:
        self._note("start", f"voters={sorted(self.voters)} nodes={len(self.nodes)} {self.faults}")
        for node in self.nodes.values():
            self._start(node)
        self._schedule(self._gap(), "chaos", None)
        self._schedule(self._gap(), "client", None)
        if self.snapshots:
            self._schedule(self._gap(), "snapshot", None)
        self._schedule(CHAOS_MS, "heal", None)
        deadline = CHAOS_MS + HEAL_DEADLINE_MS
        while self._queue:
            when, _, kind, payload = heapq.heappop(self._queue)
            if when > deadline:
                break
            self.now = when
            self._handle(kind, payload)
            if self._marker is not None and self._marker_applied_everywhere():
                self._check_logs_match()
                return
        self._check_logs_match()
        self._fail("no progress after the network healed: the marker entry was never applied")

    def _handle(self, kind: str, payload: object) -> None:
        if kind == "deliver":
            message, incarnation, sender_incarnation = payload  # type: ignore[misc]
            node = self.nodes[message.destination]
            # A connection dies with the process: nothing sent to an earlier incarnation
            # reaches a restarted node, and the answer to a request goes back on the
            # connection it came on, so to the incarnation that sent it.
            if node.core is not None and node.incarnation == incarnation:
                if isinstance(message, REQUESTS):
                    key = (message.destination, message.source, message.correlation_id)
                    self._connections[key] = sender_incarnation
                node.core.tick(self.now)
                node.core.step(message)
                self._drain(node)
        elif kind == "tick":
            node_id, incarnation = payload  # type: ignore[misc]
            node = self.nodes[node_id]
            if node.core is not None and node.incarnation == incarnation:
                node.last_tick_pushed = None
                node.core.tick(self.now)
                self._drain(node)
                deadline = node.core.next_deadline() if node.core else None
                if deadline is not None and deadline <= self.now:
                    self._fail(f"n{node_id} was ticked at {self.now} and is still due: busy loop")
        elif kind == "restart":
            node = self.nodes[payload]  # type: ignore[index]
            if node.core is None:
                self._start(node)
        elif kind == "client":
            self._client_append()
            self._schedule(self.now + self.rng.randint(20, 150), "client", None)
        elif kind == "chaos":
            if self.now < CHAOS_MS:
                self._chaos()
                self._schedule(self.now + self._gap(), "chaos", None)
        elif kind == "heal":
            self._heal()
        elif kind == "marker":
            self._append_marker()
        elif kind == "snapshot":
            self._take_snapshot()
            self._schedule(self.now + self.rng.randint(100, 800), "snapshot", None)

    def _gap(self) -> int:
        return self.rng.randint(50, 600)

    def _schedule(self, when: int, kind: str, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, kind, payload))

    # ------------------------------------------------------------------- nodes

    def _start(self, node: Node) -> None:
        node.incarnation += 1
        node.next_apply = 0
        node.state, node.state_ends, node.checksum = bytearray(), {}, 0
        node.last_tick_pushed = None
        node.core = self.core_class(
            node.node_id,
            self.voters,
            now_ms=self.now,
            rng=random.Random(self.rng.random()),
            config=self.config,
            election_state=node.disk.election,
            log=list(node.disk.log),
            snapshot=node.disk.snapshot,
            log_start_offset=node.disk.log_start,
        )
        self._note("restart" if node.incarnation > 1 else "boot", f"n{node.node_id}")
        self._drain(node)

    def _crash(self, node: Node, why: str, restart_within_ms: int = 1500) -> None:
        node.core = None
        self._note("crash", f"n{node.node_id} ({why})")
        self._schedule(self.now + self.rng.randint(1, restart_within_ms), "restart", node.node_id)

    def _drain(self, node: Node) -> None:
        """Handle the core's outputs the way the contract says: persist, send, apply."""
        core = node.core
        assert core is not None
        while core.has_ready():
            ready = core.ready()
            if node.tear_next_ready and (ready.entries or ready.election_state or ready.snapshot):
                node.tear_next_ready = False
                self._tear(node, ready)
                return
            node.disk.persist(ready)
            for message in ready.messages:
                self._send(message)
            if ready.load_snapshot is not None:
                self._load(node, ready.load_snapshot, installed=ready.snapshot is not None)
            for offset, entry in ready.committed:
                self._apply(node, offset, entry, core.epoch)
            core.advance(ready)
            if node.crash_after_vote and any(
                isinstance(m, VoteResponse) and m.vote_granted and not m.pre_vote
                for m in ready.messages
            ):
                node.crash_after_vote = False
                self._crash(node, "right after granting a vote", restart_within_ms=50)
                return
        self._watch_role(node, core)
        deadline = core.next_deadline()
        if deadline is not None and deadline != node.last_tick_pushed:
            node.last_tick_pushed = deadline
            self._schedule(max(deadline, self.now), "tick", (node.node_id, node.incarnation))

    def _tear(self, node: Node, ready: Ready) -> None:
        """A crash while persisting one Ready: the log steps up to some point reached the disk
        (with no snapshot involved: the truncation and some of the entries), and the election
        state or not; nothing was sent."""
        steps = len(node.disk.log_steps(ready))
        if ready.snapshot is None and ready.log_start_offset is None:
            kept = steps - len(ready.entries) + self.rng.randint(0, len(ready.entries))
        else:
            kept = self.rng.randint(0, steps)
        if ready.election_state is not None and self.rng.random() >= 0.5:
            ready = replace(ready, election_state=None)
        node.disk.persist(ready, kept)
        self._crash(node, f"torn write: {kept} of {steps} log steps done")

    def _watch_role(self, node: Node, core: RaftCore) -> None:
        if core.role is not Role.LEADER or core.epoch in node.led_epochs:
            return
        node.led_epochs.add(core.epoch)
        self._note("leader", f"n{node.node_id} epoch {core.epoch} log end {core.log.end_offset}")
        other = self.leaders.setdefault(core.epoch, node.node_id)
        if other != node.node_id:
            self._fail(f"two leaders in epoch {core.epoch}: n{other} and n{node.node_id}")
        log = core.log
        # What its log starts after is in its snapshot, which agreed with every node's state
        # when it was taken or loaded; the entries after it must all be there.
        if log.start_offset and log.start_epoch != self.committed[log.start_offset - 1].epoch:
            self._fail(f"leader n{node.node_id} starts from a snapshot of the wrong epoch")
        for offset in range(log.start_offset, len(self.committed)):
            entry = self.committed[offset]
            if self.committed_by[offset] > core.epoch:
                continue  # committed in a later epoch than this (late) leader's
            if offset >= log.end_offset or log.entry(offset) != entry:
                self._fail(
                    f"leader n{node.node_id} of epoch {core.epoch} lacks committed entry "
                    f"{offset} {entry}"
                )

    def _apply(self, node: Node, offset: int, entry: Entry, epoch: int) -> None:
        if offset != node.next_apply:
            self._fail(f"n{node.node_id} applied offset {offset}, expected {node.next_apply}")
        node.next_apply += 1
        if not entry.leader_change:
            record = b"%d=%s;" % (offset, entry.value)
            node.state += record
            node.checksum = zlib.crc32(record, node.checksum)
        node.state_ends[offset] = len(node.state)
        if offset < len(self.committed):
            if self.committed[offset] != entry:
                self._fail(
                    f"n{node.node_id} applied {entry} at {offset}, "
                    f"where {self.committed[offset]} was applied before"
                )
            self.committed_by[offset] = min(self.committed_by[offset], epoch)
            self._check_checksum(node, offset)
        else:
            self.committed.append(entry)
            self.committed_by.append(epoch)
            self.checksums.append(node.checksum)

    def _check_checksum(self, node: Node, offset: int) -> None:
        if node.checksum != self.checksums[offset]:
            self._fail(f"n{node.node_id}'s state after offset {offset} differs from the others'")

    def _load(self, node: Node, snapshot: Snapshot, *, installed: bool) -> None:
        """The state machine drops its state for ``snapshot``'s, which must be the state every
        node had after the snapshot's last offset."""
        end, epoch = snapshot.snapshot_id
        kind = "snapshots installed" if installed else "snapshots loaded at start"
        self.counts[kind] += 1
        self._note("install" if installed else "load", f"n{node.node_id} snapshot {end}/{epoch}")
        if end > len(self.committed) or self.committed[end - 1].epoch != epoch:
            self._fail(f"n{node.node_id} loads snapshot {end}/{epoch}: not a committed point")
        node.state = bytearray(snapshot.data)
        node.state_ends = {end - 1: len(node.state)}
        node.checksum = zlib.crc32(snapshot.data)
        node.next_apply = end
        self._check_checksum(node, end - 1)

    def _take_snapshot(self) -> None:
        """A random live node's state machine snapshots itself at a random applied offset."""
        nodes = [
            n for n in self.nodes.values() if n.core and n.next_apply > n.core.log.start_offset
        ]
        if not nodes:
            return
        node = self.rng.choice(nodes)
        assert node.core is not None
        end = self.rng.randint(node.core.log.start_offset + 1, node.next_apply)
        snapshot_id = node.core.take_snapshot(end, bytes(node.state[: node.state_ends[end - 1]]))
        self.counts["snapshots taken"] += 1
        self._note("snapshot", f"n{node.node_id} at {snapshot_id.end_offset}/{snapshot_id.epoch}")
        self._drain(node)

    # ------------------------------------------------------------------- network

    def _send(self, message: Message) -> None:
        faults = self.faults
        if (message.source, message.destination) in faults.blocked:
            return
        if self.rng.random() < faults.loss:
            return
        sender = self.nodes[message.source].incarnation
        receiver = self.nodes[message.destination].incarnation
        if not isinstance(message, REQUESTS):
            key = (message.source, message.destination, message.correlation_id)
            receiver = self._connections.pop(key, receiver)
        if isinstance(message, FetchSnapshotRequest) and message.position > 0:
            self.counts["chunks"] += 1
        copies = 2 if self.rng.random() < faults.duplicate else 1
        for _ in range(copies):
            delay = self.rng.randint(1, 10)
            if self.rng.random() < faults.reorder:
                delay += self.rng.randint(20, 400)
            self._schedule(self.now + delay, "deliver", (message, receiver, sender))
        self.trace.append((self.now, "send", message))

    # ------------------------------------------------------------------- chaos

    def _chaos(self) -> None:
        self._check_logs_match()
        live = [n for n in self.nodes.values() if n.core is not None]
        ids = sorted(self.nodes)
        roll = self.rng.random()
        if roll < 0.15 and live:
            self._crash(self.rng.choice(live), "kill -9")
        elif roll < 0.25 and live:
            node = self.rng.choice(live)
            if self.rng.random() < 0.5:
                node.tear_next_ready = True
                self._note("arm", f"n{node.node_id} crashes in its next write")
            else:
                node.crash_after_vote = True
                self._note("arm", f"n{node.node_id} crashes once it has granted a vote")
        elif roll < 0.35:
            for node in live:
                assert node.core is not None
                if node.core.role is Role.LEADER:
                    node.core.resign()
                    self._drain(node)
                    self._crash(node, "clean shutdown after resigning")
                    break
        elif roll < 0.5:
            side = {i for i in ids if self.rng.random() < 0.5}
            self.faults.blocked = {(a, b) for a in ids for b in ids if (a in side) != (b in side)}
            self._note("partition", f"{sorted(side)} | {sorted(set(ids) - side)}")
        elif roll < 0.6:
            a, b = self.rng.sample(ids, 2) if len(ids) > 1 else (0, 0)
            self.faults.blocked.add((a, b))
            self._note("cut", f"n{a} -> n{b} only")
        elif roll < 0.7:
            victim = self.rng.choice(ids)
            inbound = self.rng.random() < 0.5
            for other in ids:
                self.faults.blocked.add((other, victim) if inbound else (victim, other))
            self._note("cut", f"n{victim} {'hears nothing' if inbound else 'is unheard'}")
        elif roll < 0.8:
            leader = next((n for n in live if n.core and n.core.role is Role.LEADER), None)
            if leader is not None:
                victim = leader.node_id
                for other in ids:
                    self.faults.blocked |= {(other, victim), (victim, other)}
                self._note("isolate", f"leader n{victim}")
        else:
            self.faults.blocked = set()
            self._note("heal", "links")

    def _heal(self) -> None:
        self.faults = Faults(loss=0.0, duplicate=0.0, reorder=0.0)
        self._note("heal", "all faults off; crashed nodes restart")
        for node in self.nodes.values():
            node.tear_next_ready = node.crash_after_vote = False
            if node.core is None:
                self._start(node)
        self._schedule(self.now, "marker", None)

    def _client_append(self) -> None:
        leaders = [n for n in self.nodes.values() if n.core and n.core.role is Role.LEADER]
        if leaders:
            node = self.rng.choice(leaders)
            assert node.core is not None
            self._next_value += 1
            node.core.append([f"v{self._next_value}".encode()])
            self._drain(node)

    def _append_marker(self) -> None:
        """After healing: keep offering a fresh marker until one is applied everywhere."""
        leaders = [n for n in self.nodes.values() if n.core and n.core.role is Role.LEADER]
        if leaders:
            node = max(leaders, key=lambda n: n.core.epoch if n.core else -1)
            assert node.core is not None
            self._next_value += 1
            self._marker = f"marker{self._next_value}".encode()
            node.core.append([self._marker])
            self._note("marker", f"{self._marker!r} to n{node.node_id}")
            self._drain(node)
        self._schedule(self.now + 500, "marker", None)

    def _marker_applied_everywhere(self) -> bool:
        marker = self._marker
        committed = self.committed
        offset = next(
            (i for i in range(len(committed) - 1, -1, -1) if committed[i].value == marker), None
        )
        return offset is not None and all(n.next_apply > offset for n in self.nodes.values())

    # ------------------------------------------------------------------- checks and trace

    def _check_logs_match(self) -> None:
        logs = [
            (n.node_id, n.core.log.start_offset, n.core.log.entries)
            for n in self.nodes.values()
            if n.core
        ]
        logs += [(n.node_id, n.disk.log_start, n.disk.log) for n in self.nodes.values()]
        for i, (a_id, a_start, a) in enumerate(logs):
            for b_id, b_start, b in logs[i + 1 :]:
                low = max(a_start, b_start)
                high = min(a_start + len(a), b_start + len(b))
                match = next(
                    (
                        o
                        for o in range(high - 1, low - 1, -1)
                        if a[o - a_start].epoch == b[o - b_start].epoch
                    ),
                    None,
                )
                if match is not None and (
                    a[low - a_start : match + 1 - a_start] != b[low - b_start : match + 1 - b_start]
                ):
                    self._fail(
                        f"n{a_id} and n{b_id} agree on the epoch at offset {match} "
                        "but not on the entries before it"
                    )

    def _note(self, kind: str, text: str) -> None:
        self.trace.append((self.now, kind, text))

    def _fail(self, reason: str) -> None:
        lines = [f"{t:>6} ms  {kind:<9} {what}" for t, kind, what in self.trace[-TRACE_TAIL:]]
        states = [
            f"n{n.node_id}: "
            + (
                f"{n.core.role.value} epoch {n.core.epoch} leader {n.core.leader_id} "
                f"log {n.core.log.start_offset}..{n.core.log.end_offset} "
                f"hw {n.core.high_watermark}"
                if n.core
                else "down"
            )
            for n in self.nodes.values()
        ]
        raise SimulationFailure(
            f"seed {self.seed} failed at {self.now} ms: {reason}\n"
            f"rerun alone: CHIRPSTREAM_SEED={self.seed}\n"
            + "\n".join(states)
            + f"\nlast {len(lines)} events:\n"
            + "\n".join(lines)
        )
