"""``RaftCore``: one node of a KRaft quorum as a pure state machine (sans-IO).

Inputs: the persisted state at start (the election state, the latest snapshot and the log
entries after it), ``tick(now_ms)`` of a manual clock (``set_time(now_ms)`` moves it without
firing timers, before the messages received meanwhile are stepped), ``step(message)`` for
every message received, ``request_failed(request)`` for a request that got no answer,
``append(values)`` on the leader, ``take_snapshot(end_offset, data)`` from the state machine
and ``resign()`` before a clean shutdown. Outputs come out of ``ready()`` as a
``Ready``, which the driver must handle in the order its docstring gives: persist (election
state, snapshot, log change) and fsync, then send its messages, then hand the state machine
its snapshot to load and its committed entries, then call ``advance(ready)``. So an epoch or
a vote is durable before any answer that depends on it leaves the node, and a follower never
reports an offset it could lose.

Roles follow Kafka's ``QuorumState``: unattached, prospective (pre-vote, KIP-996), candidate,
leader, follower and resigned. Replication is pull-based: followers and observers fetch with
their log end offset and last fetched epoch; the leader answers with entries, or with a
diverging epoch so the follower truncates, and with its high watermark, which is the offset a
majority of voters have replicated once an entry of the leader's own epoch is among them.

Snapshots (KIP-630): the state machine hands the core a snapshot of its state at an offset it
has applied; the log then starts there (the entries below are dropped). A follower whose fetch
offset is below the leader's log start is answered with the leader's snapshot id, downloads it
with FetchSnapshot in chunks of ``fetch_snapshot_max_bytes`` by byte position, installs it,
hands it to its state machine to load, and fetches on from its end offset.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from typing import NoReturn

from kio.schema.errors import ErrorCode

from broker.raft import leader_change
from broker.raft.config import QuorumConfig
from broker.raft.leader import LeaderState
from broker.raft.log import RaftLog
from broker.raft.messages import (
    NO_LEADER,
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    DivergingEpoch,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    Entry,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    Message,
    QuorumInfo,
    Snapshot,
    SnapshotId,
    VoteRequest,
    VoteResponse,
)

STALLED_MS = 100
"""A tick this much later than the core's next deadline means the node itself did not run
(its driver ticks it at that deadline), not that its peers went silent."""


class Role(enum.Enum):
    UNATTACHED = "unattached"
    PROSPECTIVE = "prospective"
    CANDIDATE = "candidate"
    LEADER = "leader"
    FOLLOWER = "follower"
    RESIGNED = "resigned"


class NotLeaderError(Exception):
    """An append or DescribeQuorum on a node that is not the leader (NOT_LEADER_OR_FOLLOWER)."""

    def __init__(self, leader_id: int, epoch: int) -> None:
        super().__init__(f"not the leader; leader is {leader_id} in epoch {epoch}")
        self.leader_id = leader_id
        self.epoch = epoch


class QuorumStateError(Exception):
    """Something Raft's rules say cannot happen (two leaders in one epoch, a committed entry
    about to be truncated): the node must stop, as Kafka's raft client does."""


@dataclass(frozen=True, slots=True)
class ElectionState:
    """What Kafka's ``quorum-state`` file holds: the epoch, its leader and this node's vote."""

    epoch: int = 0
    leader_id: int = NO_LEADER
    voted_for: int = NO_LEADER


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of outputs, handled in this order. A crash may cut steps 1 to 5 short after
    any of them: the core restarts correctly from what reached the disk.

    1. ``election_state`` set: write it (the ``quorum-state`` file).
    2. ``snapshot`` set: write it and fsync it (taken here or fetched from the leader) before
       the next steps delete what it replaces.
    3. ``log_from`` set: truncate the persisted log at that offset (drop it and every entry
       after; at or below the log start that empties the log).
    4. ``log_start_offset`` set: the log now starts there: delete the entries below it (an empty
       log starts there) and every snapshot older than the one ending there.
    5. ``log_from`` set: append ``entries`` at the end of the log. Then fsync all of it.
    6. Send ``messages``.
    7. ``load_snapshot`` set: the state machine drops its state and loads this snapshot
       (after a restart, or once a snapshot from the leader replaced entries not yet applied).
    8. Apply ``committed``: (offset, entry) pairs in offset order, from the end of
       ``load_snapshot`` when it is set.
    """

    election_state: ElectionState | None
    log_from: int | None
    entries: tuple[Entry, ...]
    messages: tuple[Message, ...]
    committed: tuple[tuple[int, Entry], ...]
    log_end_offset: int
    snapshot: Snapshot | None = None
    log_start_offset: int | None = None
    load_snapshot: Snapshot | None = None


@dataclass(slots=True)
class _Download:
    """A snapshot a follower is fetching from its leader: the bytes received so far."""

    snapshot_id: SnapshotId
    data: bytearray = field(default_factory=bytearray)


@dataclass(slots=True)
class _Election:
    """One round of pre-votes or votes: who granted, who refused."""

    correlation_id: int
    granted: set[int] = field(default_factory=set)
    rejected: set[int] = field(default_factory=set)


class RaftCore:
    def __init__(
        self,
        node_id: int,
        voters: frozenset[int],
        *,
        now_ms: int,
        rng: random.Random,
        config: QuorumConfig | None = None,
        election_state: ElectionState | None = None,
        log: tuple[Entry, ...] | list[Entry] = (),
        snapshot: Snapshot | None = None,
        log_start_offset: int | None = None,
    ) -> None:
        """``election_state``, ``snapshot`` (the latest) and ``log`` are what was persisted
        before this start; ``log[0]`` sits at ``log_start_offset`` (by default the snapshot's end
        offset, or 0 without one). ``rng`` supplies the election jitter (seed it for a
        reproducible run)."""
        if not voters:
            raise ValueError("controller.quorum.voters must name at least one voter")
        end = snapshot.snapshot_id.end_offset if snapshot is not None else 0
        start = end if log_start_offset is None else log_start_offset
        if not 0 <= start <= end:
            raise ValueError(
                f"a log starting at {start} leaves a gap after the snapshot ending at {end}"
            )
        self.node_id = node_id
        self.voters = frozenset(voters)
        self.config = config or QuorumConfig()
        self.rng = rng
        self.now = now_ms
        self.log = RaftLog(log, start)
        state = election_state or ElectionState()
        self.epoch = state.epoch
        self.leader_id = NO_LEADER
        self.voted_for = state.voted_for
        self.high_watermark = 0
        self.role = Role.UNATTACHED
        self._applied = 0
        self._persisted_election = state
        self._unpersisted_from: int | None = None
        # Snapshots: the latest (served to followers), and what the next Ready carries.
        self._snapshot: Snapshot | None = None
        self._new_snapshot: Snapshot | None = None
        self._new_log_start: int | None = None
        self._load_snapshot: Snapshot | None = None
        if snapshot is not None:
            if start < end:
                self._start_log_at(snapshot)  # a crash came before the log caught up with it
            else:
                self.log.start_epoch = snapshot.snapshot_id.epoch
            self._adopt_snapshot(snapshot)
        self._persisted_end = self.log.end_offset
        self._outbox: list[Message] = []
        self._next_correlation = 0
        self._in_ready = False
        # Timers, as absolute times on the manual clock (None: not running).
        self._election_deadline: int | None = None
        self._fetch_deadline: int | None = None
        self._backoff_deadline: int | None = None
        self._retry_deadline: int | None = None
        # Follower and observer fetching.
        self._fetch_target = NO_LEADER
        self._fetch_in_flight: tuple[int, int, int] | None = None  # (correlation, offset, deadline)
        self._download: _Download | None = None  # a snapshot being fetched from the leader
        self._next_fetch_at = now_ms
        self._has_fetched_from_leader = False
        # Prospective and candidate.
        self._election: _Election | None = None
        # Leader and resigned.
        self._leader: LeaderState | None = None
        self._parked: dict[int, tuple[FetchRequest, int]] = {}
        self._told: dict[int, int] = {}  # the high watermark last sent to each replica
        self._unacked: set[int] = set()
        self._successors: tuple[int, ...] = ()

        # A restarted node never resumes a candidacy or a leadership of its last epoch: it
        # might have lost entries it had not fsynced, so it waits as unattached.
        if self.is_voter and self.voters == {node_id}:
            self._become_candidate()
        elif state.leader_id not in (NO_LEADER, node_id):
            self._become_follower(state.epoch, state.leader_id)
        else:
            self._become_unattached(state.epoch)

    # ----------------------------------------------------------------- public interface

    @property
    def is_voter(self) -> bool:
        return self.node_id in self.voters

    @property
    def majority(self) -> int:
        return len(self.voters) // 2 + 1

    def tick(self, now_ms: int) -> None:
        """Advance the manual clock to ``now_ms`` and fire every timer that is due."""
        self.set_time(now_ms)
        self._poll()

    def set_time(self, now_ms: int) -> None:
        """Move the manual clock to ``now_ms`` without firing a timer. A driver calls it
        before it steps the messages received since the last tick, so they are handled at
        the time they arrived: a follower's fetch timeout restarts from the arrival of its
        leader's answer, not from the last tick (up to a whole hold earlier on an idle
        quorum), and a timer that came due meanwhile fires only after them, in ``tick``."""
        self._check_not_in_ready()
        due = self.next_deadline()
        if due is not None and now_ms - due > STALLED_MS:
            self._allow_for_stall(now_ms)
        self.now = max(self.now, now_ms)

    def _allow_for_stall(self, now: int) -> None:
        """This node is ticked long after its timer was due: its process did not run (a
        stall, a starved machine), and what its peers sent meanwhile may be waiting unread
        in its sockets. The timers that judge a peer silent (a follower's fetch timeout and
        its fetch's request timeout, a leader's check-quorum) give them a request timeout
        more to be read before this node gives up on its leader or its followers."""
        allowed = now + self.config.request_timeout_ms
        if self._fetch_deadline is not None:
            self._fetch_deadline = max(self._fetch_deadline, allowed)
        if self._fetch_in_flight is not None:
            correlation, offset, deadline = self._fetch_in_flight
            self._fetch_in_flight = (correlation, offset, max(deadline, allowed))
        leader = self._leader
        if leader is not None and leader.check_quorum_deadline is not None:
            leader.check_quorum_deadline = max(leader.check_quorum_deadline, allowed)

    def next_deadline(self) -> int | None:
        """The earliest time at which ``tick`` has something to do (None: nothing pending)."""
        retry = self._retry_deadline
        if retry is not None and self.role is Role.LEADER:
            # before the first voter can be silent the round sends nothing: no wake-up for it
            assert self._leader is not None
            silence = self._leader.first_silence(self._silence_ms())
            retry = None if silence is None else max(retry, silence)
        times = [self._election_deadline, self._fetch_deadline, self._backoff_deadline, retry]
        if self._leader is not None:
            times.append(self._leader.check_quorum_deadline)
            times.extend(deadline for _, deadline in self._parked.values())
        elif self._is_fetching():
            in_flight = self._fetch_in_flight
            times.append(in_flight[2] if in_flight is not None else self._next_fetch_at)
        due = [t for t in times if t is not None]
        return min(due) if due else None

    def _silence_ms(self) -> int:
        """How long a voter may go without fetching before the leader's repeated
        BeginQuorumEpoch goes to it (``_send_begin_quorum_epoch``): a hold and half a fetch
        timeout."""
        return self.config.fetch_timeout_ms // 2 + self.config.fetch_max_wait_ms

    def step(self, message: Message) -> None:
        """Handle one received message (at the time of the last ``tick``)."""
        self._check_not_in_ready()
        if message.destination != self.node_id:
            raise ValueError(f"message for {message.destination} given to {self.node_id}")
        handler = _HANDLERS[type(message)]
        handler(self, message)
        self._poll()

    def request_failed(self, request: Message) -> None:
        """The driver could not get ``request`` answered (connection refused or reset, no
        answer in time). A Fetch or FetchSnapshot still in flight is sent again after
        ``retry_backoff_ms``, as Kafka's raft client backs off after a network error, instead
        of waiting out its request timeout (which, for a Fetch the leader may hold, can be
        longer than the fetch timeout). Other requests are sent again by their own timers."""
        self._check_not_in_ready()
        in_flight = self._fetch_in_flight
        if (
            isinstance(request, FetchRequest | FetchSnapshotRequest)
            and in_flight is not None
            and request.correlation_id == in_flight[0]
        ):
            self._fetch_failed()
            self._poll()

    def append(self, values: list[bytes]) -> int:
        """Append ``values`` as new entries on the leader; returns the offset of the last one.
        It is committed once ``high_watermark`` passes it."""
        self._check_not_in_ready()
        if self.role is not Role.LEADER:
            raise NotLeaderError(self.leader_id, self.epoch)
        self._append_local([Entry(self.epoch, value) for value in values])
        self._answer_parked()
        return self.log.end_offset - 1

    def take_snapshot(self, end_offset: int, data: bytes) -> SnapshotId:
        """The state machine's snapshot of its state after applying every entry below
        ``end_offset`` (which it has been given to apply). The log then starts there: the
        next Ready carries the snapshot to write and the entries to delete."""
        self._check_not_in_ready()
        if not self.log.start_offset < end_offset <= self._applied:
            raise ValueError(
                f"a snapshot must end after the log start {self.log.start_offset} and not after "
                f"the last applied offset {self._applied}, not at {end_offset}"
            )
        epoch = self.log.entry(end_offset - 1).epoch
        snapshot = Snapshot(SnapshotId(end_offset, epoch), data)
        self.log.drop_before(snapshot.snapshot_id)
        self._snapshot = self._new_snapshot = snapshot
        self._new_log_start = end_offset
        return snapshot.snapshot_id

    @property
    def latest_snapshot(self) -> Snapshot | None:
        """The snapshot the log starts from (None: the log starts at 0)."""
        return self._snapshot

    def resign(self) -> None:
        """Hand leadership over before a clean shutdown: EndQuorumEpoch to the voters, the
        furthest replicated first, so the first of them starts an election at once."""
        self._check_not_in_ready()
        if self.role is Role.LEADER:
            self._become_resigned()

    def describe_quorum(self) -> QuorumInfo:
        """DescribeQuorum (55), answered by the leader only."""
        if self._leader is None:
            raise NotLeaderError(self.leader_id, self.epoch)
        voters, observers = self._leader.describe(self.log.end_offset, self.now)
        return QuorumInfo(
            self.node_id, self.epoch, self.high_watermark, tuple(voters), tuple(observers)
        )

    def has_ready(self) -> bool:
        return bool(
            self._outbox
            or self._unpersisted_from is not None
            or self._applied < self.high_watermark
            or self._election_state() != self._persisted_election
            or self._new_snapshot is not None
            or self._new_log_start is not None
            or self._load_snapshot is not None
        )

    def ready(self) -> Ready:
        """Take the pending outputs. Nothing else may be called until ``advance``."""
        self._check_not_in_ready()
        self._in_ready = True
        election = self._election_state()
        log_from = self._unpersisted_from
        committed_end = min(self.high_watermark, self.log.end_offset)
        ready = Ready(
            election_state=election if election != self._persisted_election else None,
            log_from=log_from,
            entries=self.log.read(max(log_from, self.log.start_offset), len(self.log.entries))
            if log_from is not None
            else (),
            messages=tuple(self._outbox),
            committed=tuple(
                (offset, self.log.entry(offset)) for offset in range(self._applied, committed_end)
            ),
            log_end_offset=self.log.end_offset,
            snapshot=self._new_snapshot,
            log_start_offset=self._new_log_start,
            load_snapshot=self._load_snapshot,
        )
        self._outbox = []
        self._unpersisted_from = None
        self._new_snapshot = self._new_log_start = self._load_snapshot = None
        self._applied = max(self._applied, committed_end)
        return ready

    def advance(self, ready: Ready) -> None:
        """Say that ``ready`` was persisted, sent and applied."""
        if not self._in_ready:
            raise RuntimeError("advance() without ready()")
        self._in_ready = False
        if ready.election_state is not None:
            self._persisted_election = ready.election_state
        self._persisted_end = ready.log_end_offset
        if self.role is Role.LEADER:
            self._maybe_advance_high_watermark()

    # ----------------------------------------------------------------- transitions

    def _become_unattached(self, epoch: int) -> None:
        self._set_epoch(epoch)
        self._enter(Role.UNATTACHED, NO_LEADER)
        if self.is_voter:
            self._election_deadline = self.now + self._random_election_timeout()
        else:
            self._fetch_target = NO_LEADER

    def _become_follower(self, epoch: int, leader_id: int) -> None:
        self._set_epoch(epoch)
        self._enter(Role.FOLLOWER, leader_id)
        self._fetch_target = leader_id
        self._has_fetched_from_leader = False
        self._fetch_deadline = self.now + self.config.fetch_timeout_ms

    def _become_prospective(self) -> None:
        # A follower keeps its leader while it asks: Kafka's ProspectiveState retains it.
        retained = self.leader_id if self.role is Role.FOLLOWER else NO_LEADER
        self._enter(Role.PROSPECTIVE, retained)
        self._election_deadline = self.now + self._random_election_timeout()
        self._start_election(pre_vote=True)

    def _become_candidate(self) -> None:
        self._set_epoch(self.epoch + 1)
        self.voted_for = self.node_id
        self._enter(Role.CANDIDATE, NO_LEADER)
        self._election_deadline = self.now + self._random_election_timeout()
        self._start_election(pre_vote=False)

    def _become_leader(self) -> None:
        granted = self._election.granted if self._election is not None else {self.node_id}
        self._enter(Role.LEADER, self.node_id)
        self._leader = LeaderState.start(
            self.node_id, self.voters, self.log.end_offset, self.now, self.config.fetch_timeout_ms
        )
        # Kafka's LeaderChangeMessage: the log itself says who leads this epoch.
        change = leader_change.encode(self.node_id, self.voters, granted)
        self._append_local([Entry(self.epoch, change, leader_change=True)])
        self._send_begin_quorum_epoch()

    def _become_resigned(self) -> None:
        assert self._leader is not None
        successors = self._leader.successors()
        self._enter(Role.RESIGNED, self.node_id)
        self._successors = successors
        self._unacked = set(successors)
        self._election_deadline = self.now + self._random_election_timeout()
        self._send_end_quorum_epoch()

    def _enter(self, role: Role, leader_id: int) -> None:
        """Leave the current role: every timer and every piece of role state is dropped."""
        self.role = role
        self.leader_id = leader_id
        self._election_deadline = self._fetch_deadline = self._backoff_deadline = None
        self._retry_deadline = None
        self._fetch_in_flight = None
        self._download = None
        self._next_fetch_at = self.now
        self._election = None
        self._leader = None
        self._parked = {}
        self._told = {}
        self._unacked = set()

    def _set_epoch(self, epoch: int) -> None:
        if epoch < self.epoch:
            raise QuorumStateError(f"epoch going back from {self.epoch} to {epoch}")
        if epoch > self.epoch:
            self.epoch = epoch
            self.voted_for = NO_LEADER

    # ----------------------------------------------------------------- timers

    def _poll(self) -> None:
        """Fire what is due; a new role's timers may be due at once (a zero backoff)."""
        for _ in range(len(Role)):
            self._poll_once()
            deadline = self.next_deadline()
            if deadline is None or deadline > self.now:
                return

    def _poll_once(self) -> None:
        now = self.now
        role = self.role
        if role is Role.UNATTACHED and self.is_voter:
            if _due(self._election_deadline, now):
                self._become_prospective()
        elif role is Role.FOLLOWER and self._fetch_deadline is not None:
            if now >= self._fetch_deadline:
                if self.is_voter:
                    self._become_prospective()
                else:
                    self._become_unattached(self.epoch)
        elif role is Role.PROSPECTIVE:
            if _due(self._election_deadline, now):
                self._lose_pre_vote()
            elif _due(self._retry_deadline, now):
                self._send_vote_requests()
        elif role is Role.CANDIDATE:
            if _due(self._backoff_deadline, now):
                self._become_prospective()
            elif _due(self._election_deadline, now):
                self._back_off()
            elif _due(self._retry_deadline, now):
                self._send_vote_requests()
        elif role is Role.LEADER:
            self._poll_leader()
        elif role is Role.RESIGNED:
            if _due(self._election_deadline, now):
                self._become_prospective()
            elif _due(self._retry_deadline, now):
                self._send_end_quorum_epoch()
        if self._is_fetching():
            self._maybe_send_fetch()

    def _is_fetching(self) -> bool:
        """Followers fetch from their leader; observers with no leader ask any voter."""
        return self.role is Role.FOLLOWER or (self.role is Role.UNATTACHED and not self.is_voter)

    def _poll_leader(self) -> None:
        now = self.now
        assert self._leader is not None
        deadline = self._leader.check_quorum_deadline
        if deadline is not None and now >= deadline:
            self._become_resigned()  # KAFKA-15489: no majority heard from
            return
        for replica_id, (request, deadline) in list(self._parked.items()):
            if now >= deadline:
                del self._parked[replica_id]
                self._answer_fetch(request)
        if _due(self._retry_deadline, now):
            self._send_begin_quorum_epoch()

    def _random_election_timeout(self) -> int:
        timeout = self.config.election_timeout_ms
        return timeout + self.rng.randrange(timeout)

    # ----------------------------------------------------------------- elections

    def _start_election(self, *, pre_vote: bool) -> None:
        self._election = _Election(self._new_correlation(), granted={self.node_id})
        self._send_vote_requests()
        self._count_votes()

    def _send_vote_requests(self) -> None:
        """Ask every voter that has not answered yet; again after each request timeout."""
        election = self._election
        assert election is not None
        pre_vote = self.role is Role.PROSPECTIVE
        for voter in sorted(self.voters - election.granted - election.rejected):
            self._send(
                VoteRequest(
                    source=self.node_id,
                    destination=voter,
                    correlation_id=election.correlation_id,
                    candidate_epoch=self.epoch + 1 if pre_vote else self.epoch,
                    last_offset_epoch=self.log.last_epoch,
                    last_offset=self.log.end_offset,
                    pre_vote=pre_vote,
                )
            )
        self._retry_deadline = self.now + self.config.request_timeout_ms

    def _count_votes(self) -> None:
        election = self._election
        assert election is not None
        if len(election.granted) >= self.majority:
            if self.role is Role.PROSPECTIVE:
                self._become_candidate()
            else:
                self._become_leader()
        elif len(election.rejected) > len(self.voters) - self.majority:
            if self.role is Role.PROSPECTIVE:
                self._lose_pre_vote()
            elif self._backoff_deadline is None:
                self._back_off()

    def _lose_pre_vote(self) -> None:
        """KIP-996: a failed pre-vote changes nothing; go back to the leader known before, if
        any, or wait as unattached."""
        if self.leader_id != NO_LEADER:
            self._become_follower(self.epoch, self.leader_id)
        else:
            self._become_unattached(self.epoch)

    def _back_off(self) -> None:
        self._election_deadline = self._retry_deadline = None
        self._backoff_deadline = self.now + self.rng.randrange(
            self.config.election_backoff_max_ms + 1
        )

    def _can_grant_vote(self, candidate: int, up_to_date: bool, pre_vote: bool) -> bool:
        role = self.role
        if role is Role.FOLLOWER:
            # A follower still hearing from its leader refuses pre-votes (KIP-996).
            return pre_vote and up_to_date and not self._has_fetched_from_leader
        if role in (Role.UNATTACHED, Role.PROSPECTIVE):
            if pre_vote:
                return up_to_date
            if self.voted_for != NO_LEADER:
                return self.voted_for == candidate
            return up_to_date
        if role is Role.CANDIDATE:
            return up_to_date if pre_vote else candidate == self.node_id
        return False

    # ----------------------------------------------------------------- leader

    def _append_local(self, entries: list[Entry]) -> None:
        if self._unpersisted_from is None:
            self._unpersisted_from = self.log.end_offset
        self.log.append(entries)

    def _send_begin_quorum_epoch(self) -> None:
        """Announce this epoch to the other voters, again every half fetch timeout as Kafka's
        leader does: a voter that moved to a later epoch answers FENCED_LEADER_EPOCH, which
        deposes this leader instead of leaving that voter stranded. After the first round it
        goes only to the voters whose Fetch it does not hold and that have not fetched from
        it for a hold and half a fetch timeout (Kafka sends it to all of them): a voter
        fetching in this epoch follows this leader already, and one that moves on stops
        fetching and is asked again, so an idle quorum's heartbeat is its fetches alone."""
        assert self._leader is not None
        period = self.config.fetch_timeout_ms // 2
        if self._retry_deadline is None:  # the first round, as this node becomes leader
            voters = sorted(self.voters - {self.node_id})
        else:
            silent = self._leader.silent_voters(self.now - self._silence_ms())
            voters = [v for v in silent if v not in self._parked]  # a held Fetch is news
        for voter in voters:
            self._send(
                BeginQuorumEpochRequest(
                    self.node_id, voter, self._new_correlation(), leader_epoch=self.epoch
                )
            )
        self._retry_deadline = self.now + period

    def _send_end_quorum_epoch(self) -> None:
        for voter in sorted(self._unacked):
            self._send(
                EndQuorumEpochRequest(
                    self.node_id,
                    voter,
                    self._new_correlation(),
                    leader_epoch=self.epoch,
                    preferred_successors=self._successors,
                )
            )
        self._retry_deadline = self.now + self.config.request_timeout_ms if self._unacked else None

    def _maybe_advance_high_watermark(self) -> None:
        assert self._leader is not None
        offset = self._leader.majority_offset(self._persisted_end)
        if offset is not None and offset > self.high_watermark:
            self.high_watermark = offset
            self._answer_parked()

    def _answer_parked(self) -> None:
        parked, self._parked = self._parked, {}
        for request, _ in parked.values():
            self._answer_fetch(request)

    def _answer_fetch(self, request: FetchRequest) -> None:
        offset = request.fetch_offset
        self._told[request.source] = self.high_watermark
        self._send(
            FetchResponse(
                self.node_id,
                request.source,
                request.correlation_id,
                ErrorCode.none,
                self.epoch,
                self.node_id,
                high_watermark=self.high_watermark,
                records=self.log.read(offset, self.config.fetch_max_entries),
            )
        )

    def _snapshot_needed(self, request: FetchRequest) -> SnapshotId | None:
        """The snapshot a fetch must load first (Kafka's ``validateOffsetAndEpoch``): when it
        starts below this log, or at its start but not after the snapshot's last entry, or
        after an epoch older than the snapshot's."""
        if self._snapshot is None:
            return None
        start, start_epoch = self.log.start_offset, self.log.start_epoch
        offset, epoch = request.fetch_offset, request.last_fetched_epoch
        if offset < start or (offset == start and epoch != start_epoch) or epoch < start_epoch:
            return self._snapshot.snapshot_id
        return None

    def _leader_fetch(self, request: FetchRequest) -> None:
        source = request.source
        assert self._leader is not None
        snapshot_id = self._snapshot_needed(request)
        if snapshot_id is not None:
            self._parked.pop(source, None)
            self._leader.record_contact(source, self.now)
            self._send(
                FetchResponse(
                    self.node_id,
                    source,
                    request.correlation_id,
                    ErrorCode.none,
                    self.epoch,
                    self.node_id,
                    high_watermark=self.high_watermark,
                    snapshot_id=snapshot_id,
                )
            )
            return
        epoch, end = self.log.end_offset_for_epoch(request.last_fetched_epoch)
        if epoch != request.last_fetched_epoch or end < request.fetch_offset:
            self._parked.pop(source, None)
            self._send(
                FetchResponse(
                    self.node_id,
                    source,
                    request.correlation_id,
                    ErrorCode.none,
                    self.epoch,
                    self.node_id,
                    high_watermark=self.high_watermark,
                    diverging_epoch=DivergingEpoch(epoch, end),
                )
            )
            return
        leader_end = self.log.end_offset
        self._leader.record_fetch(source, request.fetch_offset, leader_end, self.now)
        if source in self.voters:
            self._maybe_advance_high_watermark()
        # A replica that has every entry but not the latest high watermark is answered at
        # once: held, it would learn the commit only when the hold ends. Its previous answer
        # carried the entries before they were committed (an append answers held fetches at
        # once). Kafka's followers send the high watermark they know in Fetch v18 for this
        # (KIP-1166); this leader remembers the one it last sent to each replica instead.
        if request.fetch_offset < leader_end or self._told.get(source, -1) < self.high_watermark:
            self._parked.pop(source, None)
            self._answer_fetch(request)
        else:
            self._parked[source] = (request, self.now + self.config.fetch_max_wait_ms)

    # ----------------------------------------------------------------- followers, observers

    def _maybe_send_fetch(self) -> None:
        if self._fetch_in_flight is not None:
            if self.now < self._fetch_in_flight[2]:
                return
            self._fetch_in_flight = None  # request timeout: give up on it
            if self.role is Role.UNATTACHED:
                self._fetch_target = NO_LEADER
        if self.now < self._next_fetch_at:
            return
        if self._fetch_target == NO_LEADER:
            self._fetch_target = self.rng.choice(sorted(self.voters))
        correlation = self._new_correlation()
        deadline = self.now + self.config.request_timeout_ms
        download = self._download
        if download is not None:
            position = len(download.data)
            self._fetch_in_flight = (correlation, position, deadline)
            self._send(
                FetchSnapshotRequest(
                    self.node_id,
                    self._fetch_target,
                    correlation,
                    current_leader_epoch=self.epoch,
                    snapshot_id=download.snapshot_id,
                    position=position,
                    max_bytes=self.config.fetch_snapshot_max_bytes,
                )
            )
            return
        offset = self.log.end_offset
        # The leader may hold a Fetch for fetch_max_wait_ms before the request timeout runs.
        self._fetch_in_flight = (correlation, offset, deadline + self.config.fetch_max_wait_ms)
        self._send(
            FetchRequest(
                self.node_id,
                self._fetch_target,
                correlation,
                current_leader_epoch=self.epoch,
                fetch_offset=offset,
                last_fetched_epoch=self.log.last_epoch,
            )
        )

    def _heard_from_leader(self) -> int:
        """A fetch or snapshot chunk answered by the leader: the fetch timeout starts again and
        the next request goes at once. Returns the in-flight request's offset or position."""
        assert self._fetch_in_flight is not None
        sent_at = self._fetch_in_flight[1]
        self._fetch_in_flight = None
        self._has_fetched_from_leader = True
        self._fetch_deadline = self.now + self.config.fetch_timeout_ms
        self._next_fetch_at = self.now
        return sent_at

    def _follower_fetch_response(self, response: FetchResponse) -> None:
        fetch_offset = self._heard_from_leader()
        if response.snapshot_id is not None:
            self._download = _Download(response.snapshot_id)
            return
        diverging = response.diverging_epoch
        if diverging is not None:
            _, local_end = self.log.end_offset_for_epoch(diverging.epoch)
            self._truncate(min(diverging.end_offset, local_end))
            return
        if response.records and fetch_offset == self.log.end_offset:
            self._append_local(list(response.records))
        high_watermark = min(response.high_watermark, self.log.end_offset)
        self.high_watermark = max(self.high_watermark, high_watermark)

    def _follower_snapshot_chunk(self, response: FetchSnapshotResponse) -> None:
        position = self._heard_from_leader()
        download = self._download
        if download is None or response.snapshot_id != download.snapshot_id:
            return
        if response.position != position:
            return  # not the chunk asked for
        download.data += response.data
        if len(download.data) < response.size:
            return
        self._download = None
        snapshot = Snapshot(download.snapshot_id, bytes(download.data))
        if snapshot.snapshot_id.end_offset > self.log.start_offset:
            self._start_log_at(snapshot)
            self._new_snapshot = snapshot
            self._adopt_snapshot(snapshot)

    def _start_log_at(self, snapshot: Snapshot) -> None:
        """Make the log start at ``snapshot``'s end. The entries after it stay if this log
        agrees with it on its last entry; otherwise every entry goes (Kafka's
        ``truncateToLatestSnapshot``): they part from the committed history before its end."""
        snapshot_id = snapshot.snapshot_id
        end, epoch = snapshot_id
        if self.log.epoch_at(end - 1) == epoch:
            self.log.drop_before(snapshot_id)
        else:
            if self.high_watermark >= end:
                self._fail(f"committed entries disagree with snapshot {snapshot_id}")
            start = self.log.start_offset
            if self._unpersisted_from is None or self._unpersisted_from > start:
                self._unpersisted_from = start
            self.log.reset(snapshot_id)
        self._new_log_start = end

    def _adopt_snapshot(self, snapshot: Snapshot) -> None:
        """``snapshot`` is the log's start: it is committed, is served to followers, and the
        state machine loads it unless it has applied that far already."""
        end = snapshot.snapshot_id.end_offset
        self._snapshot = snapshot
        self.high_watermark = max(self.high_watermark, end)
        if end > self._applied:
            self._load_snapshot = snapshot
            self._applied = end

    def _truncate(self, end_offset: int) -> None:
        if end_offset >= self.log.end_offset:
            return
        if end_offset < self.high_watermark:
            self._fail(f"truncating to {end_offset}, below high watermark {self.high_watermark}")
        self.log.truncate(end_offset)
        if self._unpersisted_from is None or end_offset < self._unpersisted_from:
            self._unpersisted_from = end_offset

    # ----------------------------------------------------------------- message handlers

    def _observe(self, epoch: int, leader_id: int) -> bool:
        """What every message teaches (Kafka's ``maybeTransition``): a later epoch, or the
        leader of this one. Returns True if this node changed state."""
        if leader_id == self.node_id:
            leader_id = NO_LEADER  # our own leadership of an epoch we no longer hold
        if epoch > self.epoch:
            if leader_id != NO_LEADER:
                self._become_follower(epoch, leader_id)
            else:
                self._become_unattached(epoch)
            return True
        if epoch == self.epoch and leader_id != NO_LEADER and self.leader_id != leader_id:
            if self.leader_id != NO_LEADER:
                self._fail(f"{leader_id} claims epoch {epoch}, led by {self.leader_id}")
            self._become_follower(epoch, leader_id)
            return True
        return False

    def _on_vote_request(self, request: VoteRequest) -> None:
        candidate = request.source

        def answer(error: ErrorCode, granted: bool) -> None:
            self._send(
                VoteResponse(
                    self.node_id,
                    candidate,
                    request.correlation_id,
                    error,
                    self.epoch,
                    self._advertised_leader(),
                    granted,
                    request.pre_vote,
                )
            )

        if candidate not in self.voters or not self.is_voter:
            answer(ErrorCode.inconsistent_voter_set, False)
            return
        if request.candidate_epoch < self.epoch:
            answer(ErrorCode.fenced_leader_epoch, False)
            return
        if not request.pre_vote and request.candidate_epoch > self.epoch:
            self._become_unattached(request.candidate_epoch)
        up_to_date = (request.last_offset_epoch, request.last_offset) >= (
            self.log.last_epoch,
            self.log.end_offset,
        )
        granted = self._can_grant_vote(candidate, up_to_date, request.pre_vote)
        if granted and not request.pre_vote and self.voted_for != candidate:
            if self.role is Role.PROSPECTIVE:
                self._become_unattached(self.epoch)
            self.voted_for = candidate
            self._election_deadline = self.now + self._random_election_timeout()
        answer(ErrorCode.none, granted)

    def _on_vote_response(self, response: VoteResponse) -> None:
        if self._observe(response.leader_epoch, response.leader_id):
            return
        election = self._election
        expected = Role.PROSPECTIVE if response.pre_vote else Role.CANDIDATE
        if self.role is not expected or election is None:
            return
        if response.correlation_id != election.correlation_id:
            return
        if response.error not in (ErrorCode.none, ErrorCode.fenced_leader_epoch):
            return
        if response.vote_granted:
            election.granted.add(response.source)
        else:
            election.rejected.add(response.source)
        self._count_votes()

    def _on_begin_quorum_epoch(self, request: BeginQuorumEpochRequest) -> None:
        error = ErrorCode.none
        if request.leader_epoch < self.epoch:
            error = ErrorCode.fenced_leader_epoch
        else:
            self._observe(request.leader_epoch, request.source)
        self._send(
            BeginQuorumEpochResponse(
                self.node_id,
                request.source,
                request.correlation_id,
                error,
                self.epoch,
                self._advertised_leader(),
            )
        )

    def _on_begin_quorum_epoch_response(self, response: BeginQuorumEpochResponse) -> None:
        self._observe(response.leader_epoch, response.leader_id)

    def _on_end_quorum_epoch(self, request: EndQuorumEpochRequest) -> None:
        error = ErrorCode.none
        if request.leader_epoch < self.epoch:
            error = ErrorCode.fenced_leader_epoch
        else:
            self._observe(request.leader_epoch, request.source)
            if self.role is Role.FOLLOWER and self.leader_id == request.source:
                # The leader is going: its fetches no longer count against pre-votes, and the
                # first preferred successor starts an election at once.
                self._has_fetched_from_leader = False
                self._fetch_deadline = self.now + self._successor_backoff(
                    request.preferred_successors
                )
        self._send(
            EndQuorumEpochResponse(
                self.node_id,
                request.source,
                request.correlation_id,
                error,
                self.epoch,
                self._advertised_leader(),
            )
        )

    def _successor_backoff(self, successors: tuple[int, ...]) -> int:
        if self.node_id not in successors:
            return self.config.election_backoff_max_ms
        position = successors.index(self.node_id)
        if position == 0:
            return 0
        return min(self.config.retry_backoff_ms << position, self.config.election_backoff_max_ms)

    def _on_end_quorum_epoch_response(self, response: EndQuorumEpochResponse) -> None:
        if self.role is Role.RESIGNED and response.leader_epoch <= self.epoch:
            self._unacked.discard(response.source)
        else:
            self._observe(response.leader_epoch, response.leader_id)

    def _leader_epoch_error(self, current_leader_epoch: int) -> ErrorCode | None:
        """Why this node cannot serve a fetch made in ``current_leader_epoch``, if it cannot."""
        if current_leader_epoch < self.epoch:
            return ErrorCode.fenced_leader_epoch
        if current_leader_epoch > self.epoch:
            return ErrorCode.unknown_leader_epoch
        if self.role is not Role.LEADER:
            return ErrorCode.not_leader_or_follower
        return None

    def _on_fetch_request(self, request: FetchRequest) -> None:
        error = self._leader_epoch_error(request.current_leader_epoch)
        if error is None:
            self._leader_fetch(request)
            return
        self._send(
            FetchResponse(
                self.node_id,
                request.source,
                request.correlation_id,
                error,
                self.epoch,
                self._advertised_leader(),
            )
        )

    def _on_fetch_response(self, response: FetchResponse) -> None:
        in_flight = self._fetch_in_flight
        if in_flight is None or response.correlation_id != in_flight[0]:
            return  # late or duplicated: that request was given up
        if self._observe(response.leader_epoch, response.leader_id):
            return
        if response.error is not ErrorCode.none:
            self._fetch_failed()
            return
        if self.role is Role.FOLLOWER and response.source == self.leader_id:
            self._follower_fetch_response(response)

    def _fetch_failed(self) -> None:
        self._fetch_in_flight = None
        self._next_fetch_at = self.now + self.config.retry_backoff_ms
        if self.role is Role.UNATTACHED:
            self._fetch_target = NO_LEADER

    def _on_fetch_snapshot_request(self, request: FetchSnapshotRequest) -> None:
        error = self._leader_epoch_error(request.current_leader_epoch)
        snapshot = self._snapshot
        position = request.position
        if error is None:
            if snapshot is None or snapshot.snapshot_id != request.snapshot_id:
                error = ErrorCode.snapshot_not_found
            elif not _within(position, len(snapshot.data)):
                error = ErrorCode.position_out_of_range
        if error is not None:
            self._send(
                FetchSnapshotResponse(
                    self.node_id,
                    request.source,
                    request.correlation_id,
                    error,
                    self.epoch,
                    self._advertised_leader(),
                    request.snapshot_id,
                )
            )
            return
        assert snapshot is not None and self._leader is not None
        self._leader.record_contact(request.source, self.now)
        self._send(
            FetchSnapshotResponse(
                self.node_id,
                request.source,
                request.correlation_id,
                ErrorCode.none,
                self.epoch,
                self.node_id,
                snapshot.snapshot_id,
                size=len(snapshot.data),
                position=position,
                data=snapshot.data[position : position + request.max_bytes],
            )
        )

    def _on_fetch_snapshot_response(self, response: FetchSnapshotResponse) -> None:
        in_flight = self._fetch_in_flight
        if in_flight is None or response.correlation_id != in_flight[0]:
            return
        if self._observe(response.leader_epoch, response.leader_id):
            return
        if response.error in (ErrorCode.snapshot_not_found, ErrorCode.position_out_of_range):
            # The leader has a newer snapshot (or the download went wrong): fetch again at
            # once, which names the snapshot to download now (Kafka does the same).
            self._download = None
            self._fetch_in_flight = None
            return
        if response.error is not ErrorCode.none:
            self._fetch_failed()
            return
        if self.role is Role.FOLLOWER and response.source == self.leader_id:
            self._follower_snapshot_chunk(response)

    # ----------------------------------------------------------------- helpers

    def _advertised_leader(self) -> int:
        """The leader this node names in its answers: not itself once it has resigned, so
        nobody waits on a leader that is going."""
        return NO_LEADER if self.role is Role.RESIGNED else self.leader_id

    def _election_state(self) -> ElectionState:
        return ElectionState(self.epoch, self.leader_id, self.voted_for)

    def _send(self, message: Message) -> None:
        self._outbox.append(message)

    def _new_correlation(self) -> int:
        self._next_correlation += 1
        return self._next_correlation

    def _check_not_in_ready(self) -> None:
        if self._in_ready:
            raise RuntimeError("ready() was taken: call advance() first")

    def _fail(self, reason: str) -> NoReturn:
        raise QuorumStateError(f"node {self.node_id} epoch {self.epoch}: {reason}")


_HANDLERS = {
    VoteRequest: RaftCore._on_vote_request,
    VoteResponse: RaftCore._on_vote_response,
    BeginQuorumEpochRequest: RaftCore._on_begin_quorum_epoch,
    BeginQuorumEpochResponse: RaftCore._on_begin_quorum_epoch_response,
    EndQuorumEpochRequest: RaftCore._on_end_quorum_epoch,
    EndQuorumEpochResponse: RaftCore._on_end_quorum_epoch_response,
    FetchRequest: RaftCore._on_fetch_request,
    FetchResponse: RaftCore._on_fetch_response,
    FetchSnapshotRequest: RaftCore._on_fetch_snapshot_request,
    FetchSnapshotResponse: RaftCore._on_fetch_snapshot_response,
}


def _due(deadline: int | None, now: int) -> bool:
    """Whether a timer set for ``deadline`` (None: not set) has come due at ``now``."""
    return deadline is not None and now >= deadline


def _within(position: int, size: int) -> bool:
    """Whether a FetchSnapshot may start at ``position`` of a snapshot of ``size`` bytes: at a
    byte of it, or at 0 of an empty one."""
    return 0 <= position < size or position == size == 0
