"""``RaftRuntime``: one node's Raft core driven on asyncio, real sockets and the disk.

One task owns the core (``_run``). Everything else talks to it through an inbox: answers to
the core's requests, requests received by the controller-listener handlers (``handle``), and
appends. Each turn moves the core's clock to the injected clock's time, steps the inbox into
the core (so a message counts as received now, before any timer that came due fires), ticks it,
then handles every ``Ready`` in the order the core demands: persist the election state and
the log and fsync them (in a worker thread, so the loop keeps serving), then send its
messages (requests through ``NodeClients``, answers to the handlers waiting on them), then
hand a snapshot to load and the committed entries to the subscribers and settle the appends
they complete, then ``advance``. The next turn is due at the core's ``next_deadline()`` (a
timer on the clock) or at the next inbox item.

Snapshots (KIP-630): the state machine above calls ``take_snapshot`` with its state after an
entry it applied; the snapshot is written as Kafka's ``<offset>-<epoch>.checkpoint`` file and
the log starts at its end. The core holds and serves (FetchSnapshot) the file's bytes as they
are, as Kafka's leader serves its snapshot files; a follower that downloads one writes it as
is, and its subscribers load the state it holds. At start the newest snapshot is loaded
before the entries after it are committed again.

The core's correlation ids never go on the wire: an answer is matched to the core's request
by the task that sent it, and a received request gets a correlation id unique on this node.
A Fetch the core holds (nothing new yet) and then drops, because a newer Fetch from the same
replica replaced it or because this node stopped leading, is answered here as the core would
answer it now, so no handler waits on an answer that will never come.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kio.schema.errors import ErrorCode

from broker.clock import Clock, TimerHandle
from broker.net.client import ClientError, NodeClients
from broker.protocol.errors import RecordError
from broker.raft import batches
from broker.raft.config import QuorumConfig
from broker.raft.core import NotLeaderError, QuorumStateError, RaftCore, Ready, Role
from broker.raft.messages import (
    NO_LEADER,
    BeginQuorumEpochRequest,
    EndQuorumEpochRequest,
    Entry,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    Message,
    QuorumInfo,
    Snapshot,
    SnapshotId,
    VoteRequest,
)
from broker.raft.store import RaftStore
from broker.raft.wire import WireError, request_to_kio, response_from_kio

log = logging.getLogger("broker.raft")

_REQUESTS = (
    VoteRequest,
    BeginQuorumEpochRequest,
    EndQuorumEpochRequest,
    FetchRequest,
    FetchSnapshotRequest,
)
OnCommit = Callable[[int, Entry], None]
OnSnapshot = Callable[[int, bytes], None]


class RaftRuntime:
    def __init__(
        self,
        node_id: int,
        voters: Mapping[int, tuple[str, int]],
        log_dir: Path,
        clock: Clock,
        config: QuorumConfig,
        clients: NodeClients,
    ) -> None:
        """``voters``: each voter's CONTROLLER endpoint (``controller.quorum.voters``); this
        node is an observer when it is not among them. ``log_dir``: the
        ``__cluster_metadata-0`` directory (``broker.raft.store.metadata_log_dir``).
        ``clients`` is used for the voters only and is told their endpoints; its owner
        closes it."""
        if not voters:
            raise ValueError("controller.quorum.voters must name at least one voter")
        self.node_id = node_id
        self.voters = dict(voters)
        self.log_dir = log_dir
        self.clock = clock
        self.config = config
        self.clients = clients
        for voter, (host, port) in self.voters.items():
            if voter != node_id:
                clients.update(voter, host, port)
        self.failure: BaseException | None = None
        self._failed = asyncio.Event()  # set with failure
        self._core: RaftCore | None = None
        self._store: RaftStore | None = None
        self._subscribers: list[tuple[OnCommit, OnSnapshot | None]] = []
        # Messages for the core, appends as (values, future), a _Resign, a _TakeSnapshot or
        # a _Failed request.
        self._inbox: list[object] = []
        self._resigning: list[asyncio.Future[None]] = []  # resolved once EndQuorumEpoch is sent
        self._snapshotting: list[asyncio.Future[None]] = []  # resolved once written
        self._loaded_state: bytes | None = None  # the state of Ready.load_snapshot, decoded
        self._persisting: asyncio.Future[None] | None = None  # the worker thread's write
        self._seen: tuple[Role, int, int] | None = None  # the last role, epoch, leader logged
        self._wake = asyncio.Event()
        self._timer: TimerHandle | None = None  # wakes the loop at the core's next deadline
        self._timer_due: int | None = None  # that deadline
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._inbound_ids = itertools.count(1)
        # Received requests awaiting the core's answer, by (source, our correlation id).
        self._answers: dict[tuple[int, int], asyncio.Future[Message]] = {}
        self._held_fetches: dict[int, tuple[FetchRequest, asyncio.Future[Message]]] = {}
        # Appends awaiting commit, by the offset of their last entry: (epoch, future).
        self._appends: dict[int, tuple[int, asyncio.Future[int]]] = {}

    # ---- the state others read ----------------------------------------------------------

    @property
    def leader_id(self) -> int:
        """The leader of the current epoch as known here (-1: none, or it is resigning)."""
        core = self._core
        if core is None or core.role is Role.RESIGNED:
            return NO_LEADER
        return core.leader_id

    @property
    def epoch(self) -> int:
        return self._core.epoch if self._core is not None else 0

    @property
    def is_leader(self) -> bool:
        return self._core is not None and self._core.role is Role.LEADER

    @property
    def high_watermark(self) -> int:
        return self._core.high_watermark if self._core is not None else 0

    @property
    def role(self) -> Role | None:
        return self._core.role if self._core is not None else None

    def describe_quorum(self) -> QuorumInfo:
        """DescribeQuorum (55) data; raises NotLeaderError on a node that is not the leader.
        The leader's own row is as of now (the core's clock moved at its last tick)."""
        if self._core is None:
            raise NotLeaderError(NO_LEADER, 0)
        info = self._core.describe_quorum()
        now = self.clock.now_ms()
        voters = tuple(
            dataclasses.replace(row, last_fetch_timestamp=now, last_caught_up_timestamp=now)
            if row.replica_id == self.node_id
            else row
            for row in info.voters
        )
        return dataclasses.replace(info, voters=voters)

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Load ``quorum-state`` and the log, then start ticking."""
        store = await asyncio.to_thread(RaftStore.open, self.log_dir, self.voters)
        election = await asyncio.to_thread(store.election_state)
        entries = await asyncio.to_thread(store.entries)
        found = await asyncio.to_thread(store.latest_snapshot_file)
        snapshot = Snapshot(SnapshotId(*found[0]), found[1]) if found is not None else None
        self._store = store
        self._core = RaftCore(
            self.node_id,
            frozenset(self.voters),
            now_ms=self.clock.now_ms(),
            rng=random.Random(),
            config=self.config,
            election_state=election,
            log=entries,
            snapshot=snapshot,
            log_start_offset=store.start_offset,
        )
        log.info(
            "raft node %d: loaded epoch %d (leader %d, voted %d), snapshot %s and %d entries "
            "from offset %d in %s",
            self.node_id,
            election.epoch,
            election.leader_id,
            election.voted_for,
            snapshot.snapshot_id if snapshot is not None else "none",
            len(entries),
            store.start_offset,
            self.log_dir,
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop; a leader first hands over with EndQuorumEpoch (sent before this returns,
        answered or not)."""
        core = self._core
        if self._task is None or core is None:
            return
        if core.role is Role.LEADER and not self._task.done():
            handed_over: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._inbox.append(_Resign(handed_over))
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.request_timeout_ms / 1000):
                    await handed_over  # EndQuorumEpoch is on its way
                    if self._sending:
                        await asyncio.wait(set(self._sending))
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self._persisting is not None:  # the worker thread finishes its write first
            await asyncio.gather(self._persisting, return_exceptions=True)
        self._cancel_timer()
        sending = list(self._sending)
        for task in sending:
            task.cancel()
        await asyncio.gather(*sending, return_exceptions=True)
        self._fail_waiters(NotLeaderError(NO_LEADER, core.epoch))
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
            self._store = None

    # ---- what the node and the controller call ------------------------------------------

    def subscribe(self, on_commit: OnCommit, on_snapshot: OnSnapshot | None = None) -> None:
        """Call ``on_commit(offset, entry)`` once per committed entry, in offset order
        (leader-change entries included; a restarted node gets its log again as it is
        committed again), and ``on_snapshot(end_offset, state)`` when the state machine must
        drop its state and load a snapshot's (at start, or when the leader's snapshot replaced
        entries not applied here); the entries from ``end_offset`` on follow."""
        self._subscribers.append((on_commit, on_snapshot))

    async def take_snapshot(self, end_offset: int, data: bytes) -> None:
        """Write ``data``, the state machine's state after every entry below ``end_offset``
        (all of them handed to the subscribers), as a snapshot, and start the log at its end;
        returns once it is durable. Raises ValueError when the log cannot start there (it
        starts at or after it already, or those entries are not committed yet)."""
        self._check_running()
        core = self._core
        assert core is not None
        if not core.log.start_offset < end_offset <= core.high_watermark:
            raise ValueError(
                f"no snapshot at offset {end_offset}: the log starts at {core.log.start_offset}"
                f" and is committed below {core.high_watermark}"
            )
        epoch = core.log.entry(end_offset - 1).epoch
        content = await asyncio.to_thread(
            batches.encode_snapshot, data, end_offset, epoch, self.clock.now_ms()
        )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox.append(_TakeSnapshot(end_offset, content, done))
        self._wake.set()
        await done

    async def append(self, values: Sequence[bytes]) -> int:
        """Append ``values`` as entries (leader only); returns the last one's offset once it
        is committed. Raises NotLeaderError, also when leadership is lost before commit."""
        if not values:
            raise ValueError("append needs at least one value")
        self._check_running()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._inbox.append((list(values), done))
        self._wake.set()
        return await done

    async def handle(self, request: Message) -> Message:
        """The core's answer to a request received on the CONTROLLER listener (its
        ``destination`` is this node). Raises TimeoutError if none comes in time."""
        if not isinstance(request, _REQUESTS) or request.destination != self.node_id:
            raise ValueError(f"not a quorum request for node {self.node_id}: {request!r}")
        self._check_running()
        ours = dataclasses.replace(request, correlation_id=next(self._inbound_ids))
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._answers[(ours.source, ours.correlation_id)] = answer
        self._inbox.append(ours)
        self._wake.set()
        wait_s = (self.config.fetch_max_wait_ms + self.config.request_timeout_ms) / 1000
        try:
            async with asyncio.timeout(wait_s):
                response = await answer
        finally:
            self._answers.pop((ours.source, ours.correlation_id), None)
        return dataclasses.replace(response, correlation_id=request.correlation_id)

    def _check_running(self) -> None:
        if self.failure is not None:
            raise QuorumStateError(f"the raft node stopped: {self.failure}")
        if self._task is None:
            raise NotLeaderError(NO_LEADER, self.epoch)

    # ---- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        core = self._core
        assert core is not None
        try:
            while True:
                self._wake.clear()
                core.set_time(self.clock.now_ms())
                self._step_inbox(core)
                core.tick(self.clock.now_ms())
                self._log_transition(core)
                while core.has_ready():
                    ready = core.ready()
                    if _touches_disk(ready):
                        self._persisting = asyncio.ensure_future(
                            asyncio.to_thread(self._persist, ready)
                        )
                        await asyncio.shield(self._persisting)
                        self._persisting = None
                    self._send(ready.messages)
                    self._load(ready.load_snapshot)
                    self._commit(ready.committed)
                    core.advance(ready)
                self._settle_resigns()
                self._settle(self._snapshotting)
                self._answer_dropped_fetches(core)
                if core.role is not Role.LEADER:
                    self._fail_appends(NotLeaderError(core.leader_id, core.epoch))
                if not self._inbox:
                    self._schedule(core.next_deadline())
                    await self._wake.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a broken Raft rule or a failed disk: stop this node
            self.failure = exc
            self._failed.set()
            log.critical("raft node %d stopped: %s", self.node_id, exc, exc_info=True)
            self._fail_waiters(exc)

    async def wait_failed(self) -> BaseException:
        """Until this Raft node stops on a failure (a broken Raft rule, a failed disk): that
        failure, which the node cannot serve the quorum past."""
        await self._failed.wait()
        assert self.failure is not None
        return self.failure

    def _log_transition(self, core: RaftCore) -> None:
        """Say when this node leads, follows or resigns (the rest of an election: DEBUG)."""
        seen = (core.role, core.epoch, core.leader_id)
        if seen == self._seen:
            return
        self._seen = seen
        role, epoch, leader_id = seen
        announced = role in (Role.LEADER, Role.FOLLOWER, Role.RESIGNED)
        level = logging.INFO if announced else logging.DEBUG
        of = f" of {leader_id}" if role is Role.FOLLOWER else ""
        log.log(level, "raft node %d: %s%s in epoch %d", self.node_id, role.value, of, epoch)

    def _step_inbox(self, core: RaftCore) -> None:
        inbox, self._inbox = self._inbox, []
        for item in inbox:
            if isinstance(item, _Resign):
                core.resign()
                self._resigning.append(item.handed_over)
            elif isinstance(item, _TakeSnapshot):
                try:
                    core.take_snapshot(item.end_offset, item.content)
                except ValueError as exc:  # the log moved on meanwhile
                    item.done.set_exception(exc)
                else:
                    self._snapshotting.append(item.done)
            elif isinstance(item, _Failed):
                core.request_failed(item.request)
            elif isinstance(item, Message):
                if isinstance(item, FetchRequest):
                    self._supersede_fetch(core, item)
                core.step(item)
            else:
                values, done = item
                if done.done():
                    continue  # its caller was cancelled
                try:
                    offset = core.append(list(values))
                except NotLeaderError as exc:
                    done.set_exception(exc)
                else:
                    self._appends[offset] = (core.epoch, done)

    def _persist(self, ready: Ready) -> None:
        store = self._store
        assert store is not None
        if ready.election_state is not None:
            store.save_election_state(ready.election_state)
        if ready.snapshot is not None:
            end_offset, epoch = ready.snapshot.snapshot_id
            store.save_snapshot_file(end_offset, epoch, ready.snapshot.data)
        if ready.log_from is not None:
            store.truncate(ready.log_from)
        if ready.log_start_offset is not None:
            store.start_log_at(ready.log_start_offset)
        if ready.log_from is not None:
            store.append(ready.entries, self.clock.now_ms())
        if ready.load_snapshot is not None:
            try:
                self._loaded_state = batches.decode_snapshot(ready.load_snapshot.data)
            except RecordError as exc:
                raise QuorumStateError(
                    f"snapshot {ready.load_snapshot.snapshot_id} is not whole: {exc}"
                ) from exc

    def _send(self, messages: Sequence[Message]) -> None:
        loop = asyncio.get_running_loop()
        for message in messages:
            if isinstance(message, _REQUESTS):
                task = loop.create_task(self._request(message))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            else:
                answer = self._answers.get((message.destination, message.correlation_id))
                if answer is not None and not answer.done():
                    answer.set_result(message)

    async def _request(self, message: Message) -> None:
        """Send one of the core's requests and put the answer in the inbox, or else the
        failure (the core retries a Fetch after its backoff, the rest at their timers)."""
        timeout_s = (self.config.request_timeout_ms + self.config.fetch_max_wait_ms) / 1000
        try:
            body = request_to_kio(message, fetch_max_wait_ms=self.config.fetch_max_wait_ms)
            answer = await self.clients.get(message.destination).request(body, timeout_s=timeout_s)
            response = response_from_kio(message, answer)
        except (ClientError, WireError) as exc:
            log.debug(
                "raft node %d: %s to %d failed: %s",
                self.node_id,
                type(message).__name__,
                message.destination,
                exc,
            )
            self._inbox.append(_Failed(message))
            self._wake.set()
            return
        self._inbox.append(response)
        self._wake.set()

    def _load(self, snapshot: Snapshot | None) -> None:
        """Hand the state of a snapshot to load to the subscribers (decoded by ``_persist``)."""
        if snapshot is None:
            return
        state, self._loaded_state = self._loaded_state, None
        assert state is not None
        end_offset = snapshot.snapshot_id.end_offset
        log.info(
            "raft node %d: loading snapshot %s (%d bytes of state)",
            self.node_id,
            snapshot.snapshot_id,
            len(state),
        )
        for _, on_snapshot in self._subscribers:
            if on_snapshot is not None:
                on_snapshot(end_offset, state)  # a failure stops the node: its state is gone
        # Appends whose entries the snapshot covers were committed (it comes from committed
        # history), but whether in their epoch cannot be told any more: their callers retry.
        for offset in [o for o in self._appends if o < end_offset]:
            _, done = self._appends.pop(offset)
            if not done.done():
                done.set_exception(NotLeaderError(self.leader_id, snapshot.snapshot_id.epoch))

    def _commit(self, committed: Sequence[tuple[int, Entry]]) -> None:
        for offset, entry in committed:
            for on_commit, _ in self._subscribers:
                try:
                    on_commit(offset, entry)
                except Exception:
                    log.exception(
                        "raft node %d: a subscriber failed on offset %d", self.node_id, offset
                    )
            waiting = self._appends.pop(offset, None)
            if waiting is not None:
                epoch, done = waiting
                if done.done():
                    continue
                if entry.epoch == epoch:
                    done.set_result(offset)
                else:  # another leader's entry took that offset: ours was truncated
                    done.set_exception(NotLeaderError(self.leader_id, entry.epoch))

    def _settle_resigns(self) -> None:
        self._settle(self._resigning)

    @staticmethod
    def _settle(waiting: list[asyncio.Future[None]]) -> None:
        futures = list(waiting)
        waiting.clear()
        for future in futures:
            if not future.done():
                future.set_result(None)

    # ---- held fetches -------------------------------------------------------------------

    def _supersede_fetch(self, core: RaftCore, request: FetchRequest) -> None:
        """A new Fetch from a replica replaces the one the core may hold from it."""
        previous = self._held_fetches.pop(request.source, None)
        if previous is not None:
            self._answer_now(core, *previous)
        answer = self._answers.get((request.source, request.correlation_id))
        if answer is not None:
            self._held_fetches[request.source] = (request, answer)

    def _answer_dropped_fetches(self, core: RaftCore) -> None:
        for source, (request, answer) in list(self._held_fetches.items()):
            if answer.done():
                del self._held_fetches[source]
            elif core.role is not Role.LEADER:
                del self._held_fetches[source]
                self._answer_now(core, request, answer)

    def _answer_now(self, core: RaftCore, request: FetchRequest, answer: asyncio.Future) -> None:
        """What the core answers a Fetch it cannot serve now: nothing new from a leader, or
        NOT_LEADER_OR_FOLLOWER with the leader known here."""
        if answer.done():
            return
        leading = core.role is Role.LEADER
        answer.set_result(
            FetchResponse(
                self.node_id,
                request.source,
                request.correlation_id,
                ErrorCode.none if leading else ErrorCode.not_leader_or_follower,
                core.epoch,
                self.leader_id,
                high_watermark=core.high_watermark if leading else -1,
            )
        )

    # ---- timers and failures ------------------------------------------------------------

    def _schedule(self, deadline: int | None) -> None:
        """Wake at ``deadline``. A timer already set for it is kept: on an idle leader most
        turns (a Fetch arrives and is held) leave the earliest deadline where it was."""
        if self._timer is not None and deadline == self._timer_due:
            return
        self._cancel_timer()
        if deadline is not None:
            delay_s = max(0, deadline - self.clock.now_ms()) / 1000
            self._timer = self.clock.call_later(delay_s, self._timer_fired)
            self._timer_due = deadline

    def _timer_fired(self) -> None:
        self._timer = None  # the next turn sets one again, even for the same deadline
        self._wake.set()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail_appends(self, error: BaseException) -> None:
        appends, self._appends = self._appends, {}
        for _, done in appends.values():
            if not done.done():
                done.set_exception(error)

    def _fail_waiters(self, error: BaseException) -> None:
        self._fail_appends(error)
        for item in self._inbox:
            if isinstance(item, tuple) and not item[1].done():
                item[1].set_exception(error)
            elif isinstance(item, _TakeSnapshot) and not item.done.done():
                item.done.set_exception(error)
        self._inbox = []
        for done in self._snapshotting:
            if not done.done():
                done.set_exception(error)
        self._snapshotting = []
        for answer in self._answers.values():
            if not answer.done():
                answer.set_exception(error)
        self._held_fetches.clear()


def _touches_disk(ready: Ready) -> bool:
    """Whether ``ready`` has anything for ``_persist``. An idle quorum's Readys carry only
    messages (fetches and their answers), and handing each to a worker thread cost more CPU
    than everything else the idle quorum does."""
    return (
        ready.election_state is not None
        or ready.snapshot is not None
        or ready.log_from is not None
        or ready.log_start_offset is not None
        or ready.load_snapshot is not None
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Resign:
    """The inbox item that asks the leader to hand over (``stop``)."""

    handed_over: asyncio.Future[None]


@dataclasses.dataclass(frozen=True, slots=True)
class _Failed:
    """The inbox item for one of the core's requests that got no answer."""

    request: Message


@dataclasses.dataclass(frozen=True, slots=True)
class _TakeSnapshot:
    """The inbox item of ``take_snapshot``: the snapshot file's content, encoded already."""

    end_offset: int
    content: bytes
    done: asyncio.Future[None]
