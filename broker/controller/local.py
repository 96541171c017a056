"""The single node's controller: the one writer of the metadata image.

It registers this node as a broker at every start (the registration is not stored: as a
Kafka broker does, the node registers anew with a new incarnation id, and a single node is
caught up at once, so it is unfenced straight away). Topic changes (create, add partitions,
delete), config changes and producer-id blocks are decided by the controller's pure functions
(:mod:`~broker.controller.topics`, :mod:`~broker.controller.configs`,
:mod:`~broker.controller.producer_ids`) from the current image, with this node as the one
registered broker; this runtime does what they cannot: the directory work, committing their
records to the image, persisting it, and handing every new image to its subscribers (the
replica manager, the metadata cache). On one node its state
persists as ``cluster-metadata.json`` (``JsonMetadataStore``); a cluster's quorum controller
(``quorum``) writes the ``__cluster_metadata`` log instead. The node hands out producer ids
from its block, one at a time, as a Kafka broker does; a restart starts from the next block.

Crash-atomic topic changes: a topic being created or deleted has its id listed as doomed in
the stored file until its directories are complete (or gone), so a crash in between leaves
directories that the next start removes, and a directory the image does not know at all is
moved aside as a stray. Directory work runs in a worker thread: a 3,000-partition topic takes
seconds of file work, during which every other client is served. Once begun, a change runs to
its end even if the client that asked goes away meanwhile, as on Kafka's controller.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from kio.schema.errors import ErrorCode

from broker.controller.brokers import (
    BrokerHeartbeatRequest,
    BrokerRegistrationRequest,
    heartbeat,
    register_broker,
)
from broker.controller.configs import ConfigAnswer, ConfigChange, alter_configs
from broker.controller.elections import ElectionAnswer, ElectionType, elect_leaders
from broker.controller.producer_ids import allocate_producer_ids
from broker.controller.topics import (
    CreatedTopic,
    DeletedTopic,
    IncreasedTopic,
    NewTopic,
    PartitionsIncrease,
    create_partitions,
    create_topics,
    delete_topics,
)
from broker.metadata.image import MetadataImage, TopicImage
from broker.metadata.records import (
    Endpoint,
    MetadataRecord,
)
from broker.metadata.store import JsonMetadataStore
from broker.metadata.topics import TopicError, broker_log_defaults, log_config
from broker.storage.config import LogConfig
from broker.storage.errors import StorageError

log = logging.getLogger("broker.controller")

T = TypeVar("T")
Subscriber = Callable[[MetadataImage, MetadataImage], None]


class PartitionStorage(Protocol):
    """The directories behind the image's partitions (the replica manager)."""

    def load(self, image: MetadataImage, doomed: frozenset[uuid.UUID]) -> None:
        """Open the logs of ``image``'s partitions, remove doomed ones, set strays aside."""

    async def prepare(
        self, topic: str, topic_id: uuid.UUID, partitions: range, config: LogConfig
    ) -> None:
        """Make these partitions' directories, ready to serve once an image lists them."""

    async def remove(self, topic: TopicImage) -> None:
        """Delete the directories of a topic no longer in the image. Raises OSError."""


def new_cluster_id() -> str:
    """A Kafka-style cluster id: a random UUID in url-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class LocalController:
    def __init__(
        self,
        store: JsonMetadataStore,
        storage: PartitionStorage,
        defaults: LogConfig,
        node_id: int,
        *,
        unclean_leader_election: bool = False,
    ) -> None:
        self._store = store
        self._storage = storage
        self.defaults = defaults
        self.node_id = node_id
        # The static unclean.leader.election.enable: the fallback of its elections where no
        # dynamic config sets it (never written into the metadata).
        self.unclean_leader_election = unclean_leader_election
        self.cluster_id = new_cluster_id()
        self.image = MetadataImage()
        # Records committed since the image was loaded: the offset the next one would have in
        # a metadata log that replayed the stored records first (broker epochs come from it).
        self._next_offset = 0
        self._subscribers: list[Subscriber] = []
        # Topics whose directories are being made or removed, and their ids (see the module).
        self.creating: dict[str, uuid.UUID] = {}
        self.deleting: dict[str, uuid.UUID] = {}
        self._creating: dict[str, tuple[MetadataRecord, ...]] = {}  # and their records
        self._unfinished: set[asyncio.Task[Any]] = set()
        # Called once a topic is deleted (the group coordinator drops its committed offsets,
        # as Kafka's onPartitionsDeleted does).
        self.on_topic_deleted: Callable[[], None] = lambda: None
        # Draws topic ids and where replicas go, as Kafka draws them at random.
        self._rng = random.SystemRandom()
        self._broker_epoch = -1  # this node's, once registered
        self._producer_ids = range(0)  # what is left of this node's block

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(old, new)`` with every new image, in order."""
        self._subscribers.append(subscriber)

    # -- loading and saving -------------------------------------------------------------

    def load(self) -> None:
        """Read the stored metadata, open every partition's log (recovering as needed) and
        publish the image."""
        stored = self._store.read()
        self.cluster_id = stored.cluster_id or self.cluster_id
        image = MetadataImage().apply_all(stored.records)
        self._next_offset = len(stored.records)
        self._storage.load(image, stored.doomed)
        self._publish(image)
        self.save()

    def save(self) -> None:
        """Write the metadata now, blocking (start-up, and small changes that must be
        durable before their answer)."""
        self._store.write(*self._take())

    def save_aside(self) -> Coroutine[Any, Any, None]:
        """Take the metadata as it is now; awaiting the result writes it in a worker thread
        and returns once it is durable. For admin requests, whose answer waits anyway: the
        fsyncs do not hold up the loop."""
        return asyncio.to_thread(self._store.write, *self._take())

    def _take(self) -> tuple[int, str]:
        return self._store.take(self.cluster_id, self.image, self.creating | self.deleting)

    def _publish(self, image: MetadataImage) -> None:
        old, self.image = self.image, image
        for subscriber in self._subscribers:
            subscriber(old, image)

    def _commit(self, records: list[MetadataRecord]) -> None:
        self._publish(self.image.apply_all(records))
        self._next_offset += len(records)

    # -- this node as a broker ----------------------------------------------------------

    def register_node(self, endpoints: tuple[Endpoint, ...], now_ms: int) -> None:
        """Register this node as a broker listening on ``endpoints`` and unfence it, through
        the controller's registration and heartbeat logic. Once per start, after the
        listener is bound. A single node keeps no lease: there is no other broker to fence it
        for (a cluster node's lease is ``broker.lifecycle``'s heartbeats)."""
        request = BrokerRegistrationRequest(self.node_id, uuid.uuid4(), endpoints)
        registered, leases = register_broker(
            self.image,
            {},
            request,
            now_ms=now_ms,
            next_offset=self._next_offset,
            unclean_default=self.unclean_leader_election,
        )
        # Never refused: with no lease kept, no other incarnation holds a live one.
        epoch = self._broker_epoch = registered.answer.broker_epoch
        self._commit(list(registered.records))
        # Its first heartbeat: the node has applied its own registration, so it is caught up.
        caught_up = BrokerHeartbeatRequest(self.node_id, epoch, current_metadata_offset=epoch)
        unfenced, _ = heartbeat(
            self.image,
            leases,
            caught_up,
            now_ms=now_ms,
            next_offset=self._next_offset,
            unclean_default=self.unclean_leader_election,
        )
        self._commit(list(unfenced.records))

    # -- changes ------------------------------------------------------------------------

    async def create_topic(self, topic: NewTopic, *, validate_only: bool = False) -> CreatedTopic:
        """Create a topic (or only check that it could be created), as
        ``topics.create_topics`` decides. Raises TopicError."""
        if topic.name in self.deleting:
            raise TopicError(
                ErrorCode.topic_already_exists, f"Topic '{topic.name}' is marked for deletion."
            )
        # Topics still being made count as existing: their names are taken.
        deciding = self.image.apply_all([r for rs in self._creating.values() for r in rs])
        decided = create_topics(deciding, [topic], rng=self._rng)
        created = decided.answer[0]
        _raise_if_refused(created)
        if validate_only:
            return created
        assert created.topic_id is not None
        self.creating[topic.name] = created.topic_id
        self._creating[topic.name] = decided.records
        change = self._create(topic, created, decided.records)
        return await self._to_the_end(change)

    async def _create(
        self, topic: NewTopic, created: CreatedTopic, records: tuple[MetadataRecord, ...]
    ) -> CreatedTopic:
        assert created.topic_id is not None
        try:
            await self.save_aside()  # the id is doomed until the topic is complete
            config = log_config(topic.configs, self._log_defaults())
            partitions = range(created.num_partitions)
            await self._prepare(topic.name, created.topic_id, partitions, config)
            self._commit(list(records))
        finally:
            del self.creating[topic.name]
            del self._creating[topic.name]
        await self.save_aside()
        return created

    async def add_partitions(
        self, increase: PartitionsIncrease, *, validate_only: bool = False
    ) -> None:
        """Grow a topic, as ``topics.create_partitions`` decides. Raises TopicError."""
        decided = create_partitions(self.image, [increase], rng=self._rng)
        _raise_if_refused(decided.answer[0])
        if validate_only:
            return
        topic = self.image.topics[increase.name]
        added = range(len(topic.partitions), increase.count)
        await self._to_the_end(self._add(topic, added, decided.records))

    async def _add(
        self, topic: TopicImage, added: range, records: tuple[MetadataRecord, ...]
    ) -> None:
        # A crash before the save leaves directories past the stored count: strays.
        config = log_config(self.image.topic_config(topic.name), self._log_defaults())
        await self._prepare(topic.name, topic.topic_id, added, config)
        self._commit(list(records))
        await self.save_aside()

    async def delete_topic(self, name: str) -> TopicImage:
        """Delete a topic, as ``topics.delete_topics`` decides. Raises TopicError."""
        decided = delete_topics(self.image, [name])
        _raise_if_refused(decided.answer[0])
        topic = self.image.topics[name]
        self._commit(list(decided.records))
        self.deleting[name] = topic.topic_id
        forgotten = self.save_aside()  # taken now: answers from now on lack the topic
        return await self._to_the_end(self._remove(topic, forgotten))

    async def _remove(self, topic: TopicImage, forgotten: Coroutine[Any, Any, None]) -> TopicImage:
        name = topic.name
        await forgotten  # first: a crash mid-delete must not resurrect it
        self.on_topic_deleted()
        try:
            await self._storage.remove(topic)
        except OSError as err:
            log.error(
                "topic %r is deleted but not all its directories are gone (%s); "
                "the next start removes them",
                name,
                err,
            )
            return topic  # its id stays doomed
        del self.deleting[name]
        await self.save_aside()
        return topic

    @property
    def controller_id(self) -> int:
        """This node: a single node is its own controller."""
        return self.node_id

    async def allocate_producer_id(self) -> tuple[ErrorCode, int]:
        """The next producer id of this node's block, asking ``producer_ids`` for a new block
        (stored before any of its ids is handed out) when it is used up, as a Kafka broker's
        ProducerIdManager does. An error code instead when no block can be had."""
        if not self._producer_ids:
            decided = allocate_producer_ids(self.image, self.node_id, self._broker_epoch)
            block = decided.answer
            if block.error_code != ErrorCode.none:
                return block.error_code, -1
            self._commit(list(decided.records))
            self.save()
            start = block.producer_id_start
            self._producer_ids = range(start, start + block.producer_id_len)
        producer_id, self._producer_ids = self._producer_ids[0], self._producer_ids[1:]
        return ErrorCode.none, producer_id

    async def elect_leaders(
        self, election_type: ElectionType, partitions: Iterable[tuple[str, int]] | None
    ) -> list[ElectionAnswer]:
        """ElectLeaders, as ``elections.elect_leaders`` decides (on one node every replica
        is this one, so there is never an election to hold, but the answers say so)."""
        decided = elect_leaders(self.image, election_type, partitions)
        if decided.records:
            self._commit(list(decided.records))
            await self.save_aside()
        return decided.answer

    async def alter_configs(
        self, changes: Sequence[ConfigChange], *, validate_only: bool = False
    ) -> list[ConfigAnswer]:
        """AlterConfigs or IncrementalAlterConfigs, as ``configs.alter_configs`` decides;
        stored before the answer, like a topic's configs."""
        decided = alter_configs(self.image, changes)
        if decided.records and not validate_only:
            self._commit(list(decided.records))
            await self.save_aside()
        return decided.answer

    # -- helpers ------------------------------------------------------------------------

    def _log_defaults(self) -> LogConfig:
        """Every topic's defaults: the static log settings under the dynamic broker configs."""
        return broker_log_defaults(self.image, self.node_id, self.defaults)

    async def _prepare(
        self, name: str, topic_id: uuid.UUID, partitions: range, config: LogConfig
    ) -> None:
        try:
            await self._storage.prepare(name, topic_id, partitions, config)
        except (OSError, StorageError) as err:
            raise TopicError(
                ErrorCode.kafka_storage_error, f"cannot create topic {name!r}: {err}"
            ) from err

    async def _to_the_end(self, change: Coroutine[Any, Any, T]) -> T:
        """Await ``change``, which goes on to its end even if this await is cancelled."""
        task = asyncio.ensure_future(change)
        self._unfinished.add(task)
        task.add_done_callback(self._unfinished.discard)
        return await asyncio.shield(task)


def _raise_if_refused(answer: CreatedTopic | DeletedTopic | IncreasedTopic) -> None:
    """Raise the refusal in one topic's answer as a TopicError."""
    if answer.error_code != ErrorCode.none:
        raise TopicError(answer.error_code, answer.message or answer.error_code.name)
