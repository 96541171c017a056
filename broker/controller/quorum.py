"""The cluster's controller runtime: the control logic over the replicated metadata log.

As Kafka's ``QuorumController``: every node with the controller role runs one. It replays
every committed entry of ``__cluster_metadata`` into its image, and *acts* only while its
Raft node leads the quorum and it has replayed the leader-change entry of that leader's
epoch (so everything an earlier controller committed is in its image). While it acts:

- Requests run one at a time: decide from the image with the pure functions of this package
  (``brokers``, ``topics``, ``configs``, ``isr``, ``elections``, ``producer_ids``), append
  their records as one entry, wait until that entry is committed and replayed, then answer.
  A decision with no records answers at once. A request while not active, or whose append finds the
  node no longer leading, gets :class:`NotControllerError` (NOT_CONTROLLER), and the client
  retries against the new controller.
- Broker leases restart from the moment it became active (a controller has no memory of
  heartbeats sent to its predecessor). A timer set at the earliest lease expiry fences the
  brokers whose ``broker.session.timeout.ms`` ran out and moves their leaderships.
- With ``auto.leader.rebalance.enable``, every ``leader.imbalance.check.interval.seconds``
  partitions go back to their preferred replica where it may lead, for each broker whose share
  of preferred partitions led elsewhere is above ``leader.imbalance.per.broker.percentage``.
- Its static settings (:class:`ControllerSettings`) are its own: it never writes them into the
  metadata. ``unclean.leader.election.enable`` is the fallback of its elections where the
  topic and the cluster-wide dynamic configs set none, so an admin's dynamic value outlives
  every change of controller, as in Kafka. (An older controller copied its static value in
  as a cluster-wide config on becoming active: such a record, in a log written then, counts
  as dynamic. One it wrote for ``auto.leader.rebalance.enable``, static again, is read by
  nothing.)

The metadata offset is the log offset of an entry: a broker's epoch is the offset of the
entry that registered it, and a broker has caught up once it reports that offset applied.

Snapshots (KIP-630): :meth:`QuorumController.load_snapshot` replaces the image with a
snapshot's (the Raft runtime hands one over at a restart, or when a snapshot from the leader
replaced entries not applied here). It takes none itself: as in Kafka, the node's metadata
publisher snapshots (``broker.metadata.publisher``), whatever the node's roles.

It does no directory work: every broker makes and removes its own replicas' directories when
its image changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from kio.schema.errors import ErrorCode

from broker.clock import Clock, Repeating, TimerHandle
from broker.controller.brokers import (
    DEFAULT_SESSION_TIMEOUT_MS,
    BrokerHeartbeatAnswer,
    BrokerHeartbeatRequest,
    BrokerRegistrationAnswer,
    BrokerRegistrationRequest,
    Leases,
    fence_expired,
    heartbeat,
    register_broker,
    start_leases,
)
from broker.controller.configs import ConfigAnswer, ConfigChange, alter_configs
from broker.controller.elections import (
    DEFAULT_IMBALANCE_PERCENTAGE,
    ElectionAnswer,
    ElectionType,
    elect_leaders,
    rebalance_preferred,
)
from broker.controller.isr import AlterPartitionAnswer, IsrChange, alter_partition
from broker.controller.producer_ids import ProducerIdBlock, allocate_producer_ids
from broker.controller.result import ControllerResult
from broker.controller.topics import (
    DEFAULT_NUM_PARTITIONS,
    DEFAULT_REPLICATION_FACTOR,
    CreatedTopic,
    DeletedTopic,
    IncreasedTopic,
    NewTopic,
    PartitionsIncrease,
    create_partitions,
    create_topics,
    delete_topics,
)
from broker.metadata.codec import CodecError, decode, encode
from broker.metadata.image import MetadataImage, apply_entries
from broker.metadata.records import MetadataRecord
from broker.metadata.snapshot import decode_snapshot
from broker.raft.core import NotLeaderError
from broker.raft.messages import Entry

log = logging.getLogger("broker.controller")

T = TypeVar("T")

DEFAULT_LEADER_IMBALANCE_CHECK_INTERVAL_MS = 10_000
"""The bundled ``leader.imbalance.check.interval.seconds`` (Kafka's is 300 s): a classroom
restarting a broker should see its preferred leaderships come back within seconds."""


class MetadataLog(Protocol):
    """What the controller needs of the replicated log (``broker.raft.runtime.RaftRuntime``)."""

    @property
    def is_leader(self) -> bool: ...

    @property
    def epoch(self) -> int: ...

    def subscribe(
        self,
        on_commit: Callable[[int, Entry], None],
        on_snapshot: Callable[[int, bytes], None] | None = None,
    ) -> None:
        """Call ``on_commit(offset, entry)`` for every committed entry, in offset order, and
        ``on_snapshot(end_offset, data)`` when a snapshot replaces the state (the entries
        from ``end_offset`` on follow)."""

    async def append(self, values: Sequence[bytes]) -> int:
        """Append ``values`` as entries and return the last one's offset once committed.
        Raises NotLeaderError (also when leadership is lost before the commit)."""
        ...


class NotControllerError(Exception):
    """This node is not the active controller (NOT_CONTROLLER): ask the quorum's leader."""


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """The controller's own settings, from the node's config (Kafka's names in comments)."""

    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS  # broker.session.timeout.ms
    auto_leader_rebalance: bool = True  # auto.leader.rebalance.enable
    # leader.imbalance.check.interval.seconds, in ms
    leader_imbalance_check_interval_ms: int = DEFAULT_LEADER_IMBALANCE_CHECK_INTERVAL_MS
    # leader.imbalance.per.broker.percentage
    leader_imbalance_per_broker_percentage: int = DEFAULT_IMBALANCE_PERCENTAGE
    unclean_leader_election: bool = False  # unclean.leader.election.enable
    num_partitions: int = DEFAULT_NUM_PARTITIONS  # num.partitions
    default_replication_factor: int = DEFAULT_REPLICATION_FACTOR  # default.replication.factor


class QuorumController:
    def __init__(
        self,
        node_id: int,
        metadata_log: MetadataLog,
        clock: Clock,
        settings: ControllerSettings = ControllerSettings(),
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.node_id = node_id
        self.settings = settings
        self._log = metadata_log
        self._clock = clock
        # Draws topic ids and where replicas go, as Kafka draws them at random.
        self._rng = rng or random.SystemRandom()
        self._image = MetadataImage()
        # Committed entries not yet in the image: applied together, in one delta, when the
        # image is next read, so replaying a long log costs one pass, not one copy per entry.
        self._unapplied: list[tuple[int, list[MetadataRecord]]] = []
        self.committed_offset = -1  # of the last entry replayed
        self._active_epoch: int | None = None
        self._leases: Leases = {}
        self._lock = asyncio.Lock()  # one operation at a time
        self._replayed: list[tuple[int, asyncio.Future[None]]] = []  # (offset, waiter)
        self._fence_timer: TimerHandle | None = None
        self._rebalance: Repeating | None = None
        self._background: set[asyncio.Task[None]] = set()
        metadata_log.subscribe(self._on_commit, self.load_snapshot)

    @property
    def image(self) -> MetadataImage:
        """The metadata as every committed entry replayed so far leaves it."""
        if self._unapplied:
            self._image = apply_entries(self._image, self._unapplied)
            self._unapplied = []
        return self._image

    @property
    def active(self) -> bool:
        """Whether this controller acts: it leads the quorum in the epoch it activated in."""
        return (
            self._active_epoch is not None
            and self._log.is_leader
            and self._log.epoch == self._active_epoch
        )

    def stop(self) -> None:
        """Stop acting and cancel the timers (the node is shutting down): requests still
        waiting for their entry to be replayed get NOT_CONTROLLER."""
        self._deactivate()
        for _, waiter in self._replayed:
            if not waiter.done():
                waiter.set_exception(NotControllerError(f"node {self.node_id} is stopping"))
        self._replayed = []

    # -- replay ---------------------------------------------------------------------------

    def _on_commit(self, offset: int, entry: Entry) -> None:
        if entry.leader_change:
            if entry.epoch == self._log.epoch and self._log.is_leader:
                self._activate(entry.epoch)
            else:
                self._deactivate()
        else:
            try:
                self._unapplied.append((offset, decode(entry.value)))
            except CodecError as error:
                log.error("metadata entry at offset %d not applied: %s", offset, error)
        self._replayed_to(offset)

    def load_snapshot(self, end_offset: int, data: bytes) -> None:
        """Drop the image and load the snapshot of every entry below ``end_offset`` (the
        Raft runtime's ``Ready.load_snapshot``); replay goes on from ``end_offset``. Raises
        SnapshotError (the node cannot go on without its metadata)."""
        image = decode_snapshot(data)
        self._image, self._unapplied = image, []
        log.info(
            "loaded the metadata snapshot of the log below offset %d: %d brokers, %d topics",
            end_offset,
            len(image.brokers),
            len(image.topics),
        )
        self._replayed_to(end_offset - 1)

    def _replayed_to(self, offset: int) -> None:
        """Every entry up to ``offset`` is replayed: release the requests waiting for it."""
        self.committed_offset = offset
        waiting = []
        for wanted, waiter in self._replayed:
            if wanted <= offset:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((wanted, waiter))
        self._replayed = waiting

    def _activate(self, epoch: int) -> None:
        self._deactivate()
        self._active_epoch = epoch
        self._leases = start_leases(self.image, self._clock.now_ms())
        log.info("node %d is the active controller in epoch %d", self.node_id, epoch)
        self._watch_leases()
        if self.settings.auto_leader_rebalance:
            self._rebalance = Repeating(
                self._clock,
                self.settings.leader_imbalance_check_interval_ms,
                lambda: self._in_background(self._rebalance_leaders),
            )

    def _deactivate(self) -> None:
        if self._active_epoch is not None:
            log.info("node %d stops acting as controller", self.node_id)
        self._active_epoch = None
        self._leases = {}
        if self._fence_timer is not None:
            self._fence_timer.cancel()
            self._fence_timer = None
        if self._rebalance is not None:
            self._rebalance.cancel()
            self._rebalance = None

    # -- one operation at a time ----------------------------------------------------------

    async def _run(
        self,
        decide: Callable[[int], ControllerResult[T]],
        on_committed: Callable[[int], None] | None = None,
    ) -> T:
        """``decide(next_offset)`` from the image, commit its records (then call
        ``on_committed`` with their entry's offset), and return its answer. ``next_offset``
        is the offset that entry will have."""
        async with self._lock:
            self._check_active()
            result = decide(self.committed_offset + 1)
            if result.records:
                offset = await self._commit(result.records)
                if on_committed is not None:
                    on_committed(offset)
            self._watch_leases()
            return result.answer

    def _check_active(self) -> None:
        if not self.active:
            self._deactivate()
            raise NotControllerError(f"node {self.node_id} is not the active controller")

    async def _commit(self, records: Iterable[MetadataRecord]) -> int:
        try:
            offset = await self._log.append([encode(list(records))])
        except NotLeaderError as error:
            self._deactivate()
            raise NotControllerError(str(error)) from None
        if self.committed_offset < offset:
            waiter = asyncio.get_running_loop().create_future()
            self._replayed.append((offset, waiter))
            await waiter
        return offset

    def _in_background(self, operation: Callable[[], Awaitable[object]]) -> None:
        """Run an operation the controller starts itself (a timer's) after those queued."""

        async def run() -> None:
            with contextlib.suppress(NotControllerError):  # the next controller does it
                await operation()

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- brokers --------------------------------------------------------------------------

    async def register_broker(self, request: BrokerRegistrationRequest) -> BrokerRegistrationAnswer:
        """BrokerRegistration: the broker's epoch is the offset of the entry registering it."""

        def decide(next_offset: int) -> ControllerResult[BrokerRegistrationAnswer]:
            result, self._leases = register_broker(
                self.image,
                self._leases,
                request,
                now_ms=self._clock.now_ms(),
                next_offset=next_offset,
                unclean_default=self.settings.unclean_leader_election,
                session_timeout_ms=self.settings.session_timeout_ms,
            )
            return result

        answer = await self._run(decide)
        if answer.error_code == ErrorCode.none:
            log.info("broker %d registered at epoch %d", request.broker_id, answer.broker_epoch)
        return answer

    async def heartbeat(self, request: BrokerHeartbeatRequest) -> BrokerHeartbeatAnswer:
        """BrokerHeartbeat: renew the lease; unfence, fence or shut the broker down."""

        def decide(next_offset: int) -> ControllerResult[BrokerHeartbeatAnswer]:
            result, self._leases = heartbeat(
                self.image,
                self._leases,
                request,
                now_ms=self._clock.now_ms(),
                next_offset=next_offset,
                unclean_default=self.settings.unclean_leader_election,
            )
            return result

        def committed(offset: int) -> None:
            # A heartbeat's entry during a controlled shutdown holds either every record that
            # moved the broker's leaderships, or its fencing: once the other brokers have
            # applied this offset they have seen them all.
            lease = self._leases.get(request.broker_id)
            if lease is not None and lease.controlled_shutdown_offset is not None:
                leases = dict(self._leases)
                leases[request.broker_id] = replace(lease, controlled_shutdown_offset=offset)
                self._leases = leases

        return await self._run(decide, committed)

    def _watch_leases(self) -> None:
        """Set the fencing timer for the earliest lease expiry, unless one is set."""
        if self._fence_timer is not None or self._active_epoch is None:
            return
        deadlines = [
            lease.last_contact_ms + self.settings.session_timeout_ms + 1
            for broker_id, lease in self._leases.items()
            if (broker := self.image.brokers.get(broker_id)) is not None and not broker.fenced
        ]
        if not deadlines:
            return
        delay_ms = max(0, min(deadlines) - self._clock.now_ms())
        self._fence_timer = self._clock.call_later(delay_ms / 1000, self._on_fence_timer)

    def _on_fence_timer(self) -> None:
        self._fence_timer = None
        self._in_background(self._fence_expired)

    async def _fence_expired(self) -> None:
        def decide(_: int) -> ControllerResult[list[int]]:
            return fence_expired(
                self.image,
                self._leases,
                now_ms=self._clock.now_ms(),
                unclean_default=self.settings.unclean_leader_election,
                session_timeout_ms=self.settings.session_timeout_ms,
            )

        fenced = await self._run(decide)
        if fenced:
            log.warning(
                "fenced broker(s) %s: no heartbeat for %d ms",
                fenced,
                self.settings.session_timeout_ms,
            )

    async def _rebalance_leaders(self) -> None:
        percentage = self.settings.leader_imbalance_per_broker_percentage
        await self._run(
            lambda _: ControllerResult(tuple(rebalance_preferred(self.image, percentage)), None)
        )

    # -- partitions and producer ids ------------------------------------------------------

    async def alter_partition(
        self, broker_id: int, broker_epoch: int, changes: Sequence[IsrChange]
    ) -> AlterPartitionAnswer:
        """AlterPartition from a partition leader."""
        return await self._run(
            lambda _: alter_partition(self.image, broker_id, broker_epoch, changes)
        )

    async def allocate_producer_ids(self, broker_id: int, broker_epoch: int) -> ProducerIdBlock:
        """AllocateProducerIds: the next block of producer ids for ``broker_id``."""
        return await self._run(lambda _: allocate_producer_ids(self.image, broker_id, broker_epoch))

    async def elect_leaders(
        self, election_type: ElectionType, partitions: Iterable[tuple[str, int]] | None
    ) -> list[ElectionAnswer]:
        """ElectLeaders for ``partitions`` (None: every partition)."""
        return await self._run(lambda _: elect_leaders(self.image, election_type, partitions))

    # -- topics ---------------------------------------------------------------------------

    async def create_topics(
        self, topics: Sequence[NewTopic], *, validate_only: bool = False
    ) -> list[CreatedTopic]:
        """CreateTopics; with ``validate_only`` nothing is written."""

        def decide(_: int) -> ControllerResult[list[CreatedTopic]]:
            result = create_topics(
                self.image,
                topics,
                rng=self._rng,
                default_partitions=self.settings.num_partitions,
                default_replication_factor=self.settings.default_replication_factor,
            )
            return ControllerResult((), result.answer) if validate_only else result

        return await self._run(decide)

    async def delete_topics(
        self, names: Sequence[str] = (), topic_ids: Sequence[uuid.UUID] = ()
    ) -> list[DeletedTopic]:
        """DeleteTopics by name and by id."""
        return await self._run(lambda _: delete_topics(self.image, names, topic_ids))

    async def create_partitions(
        self, increases: Sequence[PartitionsIncrease], *, validate_only: bool = False
    ) -> list[IncreasedTopic]:
        """CreatePartitions; with ``validate_only`` nothing is written."""

        def decide(_: int) -> ControllerResult[list[IncreasedTopic]]:
            result = create_partitions(self.image, increases, rng=self._rng)
            return ControllerResult((), result.answer) if validate_only else result

        return await self._run(decide)

    # -- configs --------------------------------------------------------------------------

    async def alter_configs(
        self, changes: Sequence[ConfigChange], *, validate_only: bool = False
    ) -> list[ConfigAnswer]:
        """AlterConfigs or IncrementalAlterConfigs; with ``validate_only`` nothing is
        written."""

        def decide(_: int) -> ControllerResult[list[ConfigAnswer]]:
            result = alter_configs(self.image, changes)
            return ControllerResult((), result.answer) if validate_only else result

        return await self._run(decide)
