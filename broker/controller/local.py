"""The single node's controller: the one writer of the metadata image.

It registers this node as a broker at every start (the registration is not stored: as a
Kafka broker does, the node registers anew with a new incarnation id, and a single node is
caught up at once, so it is unfenced straight away), decides topic changes (create, add
partitions, delete) and producer ids, turns each into metadata records, applies them to the
image and hands every new image to its subscribers (the replica manager, the metadata
cache). On one node its state persists as
``cluster-metadata.json`` (``JsonMetadataStore``) until the controller writes the
``__cluster_metadata`` log.

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
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeVar

from kio.schema.errors import ErrorCode

from broker.controller.brokers import (
    BrokerHeartbeatRequest,
    BrokerRegistrationRequest,
    heartbeat,
    register_broker,
)
from broker.metadata.image import MetadataImage, TopicImage
from broker.metadata.records import (
    ConfigRecord,
    ConfigResourceType,
    Endpoint,
    MetadataRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from broker.metadata.store import JsonMetadataStore
from broker.metadata.topics import (
    INTERNAL_TOPICS,
    TopicError,
    collision_key,
    log_config,
    validate_topic_name,
)
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
    ) -> None:
        self._store = store
        self._storage = storage
        self.defaults = defaults
        self.node_id = node_id
        self.cluster_id = new_cluster_id()
        self.image = MetadataImage()
        # Records committed since the image was loaded: the offset the next one would have in
        # a metadata log that replayed the stored records first (broker epochs come from it).
        self._next_offset = 0
        self._subscribers: list[Subscriber] = []
        # Topics whose directories are being made or removed, and their ids (see the module).
        self.creating: dict[str, uuid.UUID] = {}
        self.deleting: dict[str, uuid.UUID] = {}
        self._unfinished: set[asyncio.Task[Any]] = set()
        # Called once a topic is deleted (the group coordinator drops its committed offsets,
        # as Kafka's onPartitionsDeleted does).
        self.on_topic_deleted: Callable[[], None] = lambda: None

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
        listener is bound; until the next landing's heartbeats its lease is not kept."""
        request = BrokerRegistrationRequest(self.node_id, uuid.uuid4(), endpoints)
        registered, leases = register_broker(
            self.image, {}, request, now_ms=now_ms, next_offset=self._next_offset
        )
        # Never refused: with no lease kept, no other incarnation holds a live one.
        epoch = registered.answer.broker_epoch
        self._commit(list(registered.records))
        # Its first heartbeat: the node has applied its own registration, so it is caught up.
        caught_up = BrokerHeartbeatRequest(self.node_id, epoch, current_metadata_offset=epoch)
        unfenced, _ = heartbeat(
            self.image, leases, caught_up, now_ms=now_ms, next_offset=self._next_offset
        )
        self._commit(list(unfenced.records))

    # -- changes ------------------------------------------------------------------------

    async def create_topic(
        self,
        name: str,
        num_partitions: int,
        overrides: Mapping[str, str] | None = None,
        *,
        validate_only: bool = False,
    ) -> TopicImage | None:
        """Create a topic (or only check that it could be created). Raises TopicError."""
        validate_topic_name(name)
        topics = self.image.topics
        if name in topics or name in self.creating:
            raise TopicError(ErrorCode.topic_already_exists, f"Topic '{name}' already exists.")
        if name in self.deleting:
            raise TopicError(
                ErrorCode.topic_already_exists, f"Topic '{name}' is marked for deletion."
            )
        colliding = sorted(
            other
            for other in topics.keys() | self.creating.keys()
            if collision_key(other) == collision_key(name)
        )
        if colliding:
            raise TopicError(
                ErrorCode.invalid_topic_exception,
                f"Topic '{name}' collides with existing topics: {', '.join(colliding)}",
            )
        if num_partitions < 1:
            raise TopicError(
                ErrorCode.invalid_partitions, "number of partitions must be at least 1"
            )
        overrides = dict(overrides or {})
        config = self._config_or_error(overrides)
        if validate_only:
            return None
        topic_id = uuid.uuid4()
        self.creating[name] = topic_id
        change = self._create(name, topic_id, num_partitions, overrides, config)
        return await self._to_the_end(change)

    async def _create(
        self,
        name: str,
        topic_id: uuid.UUID,
        num_partitions: int,
        overrides: dict[str, str],
        config: LogConfig,
    ) -> TopicImage:
        try:
            await self.save_aside()  # the id is doomed until the topic is complete
            await self._prepare(name, topic_id, range(num_partitions), config)
            self._commit(
                [
                    TopicRecord(name, topic_id),
                    *(
                        ConfigRecord(ConfigResourceType.TOPIC, name, key, value)
                        for key, value in overrides.items()
                    ),
                    *self._partition_records(topic_id, range(num_partitions)),
                ]
            )
        finally:
            del self.creating[name]
        await self.save_aside()
        return self.image.topics_by_id[topic_id]

    async def add_partitions(self, name: str, total: int, *, validate_only: bool = False) -> None:
        topic = self.image.topics.get(name)
        if topic is None:
            raise TopicError(ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist")
        count = len(topic.partitions)
        if total <= count:
            raise TopicError(
                ErrorCode.invalid_partitions,
                f"topic {name!r} has {count} partitions; the new count must be larger, got {total}",
            )
        if validate_only:
            return
        await self._to_the_end(self._add(topic, range(count, total)))

    async def _add(self, topic: TopicImage, added: range) -> None:
        # A crash before the save leaves directories past the stored count: strays.
        config = self._config_or_error(self.image.topic_config(topic.name))
        await self._prepare(topic.name, topic.topic_id, added, config)
        self._commit(self._partition_records(topic.topic_id, added))
        await self.save_aside()

    async def delete_topic(self, name: str) -> TopicImage:
        if name in INTERNAL_TOPICS:
            raise TopicError(
                ErrorCode.invalid_topic_exception,
                f"{name} is an internal topic and cannot be deleted",
            )
        topic = self.image.topics.get(name)
        if topic is None:
            raise TopicError(ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist")
        self._commit([RemoveTopicRecord(topic.topic_id)])
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

    def allocate_producer_id(self) -> int:
        producer_id = self.image.next_producer_id
        self._commit([ProducerIdsRecord(self.node_id, 0, producer_id + 1)])
        self.save()
        return producer_id

    # -- helpers ------------------------------------------------------------------------

    def _partition_records(self, topic_id: uuid.UUID, indexes: range) -> list[PartitionRecord]:
        node = (self.node_id,)
        return [PartitionRecord(i, topic_id, node, node, self.node_id) for i in indexes]

    def _config_or_error(self, overrides: Mapping[str, str]) -> LogConfig:
        try:
            return log_config(overrides, self.defaults)
        except ValueError as exc:
            raise TopicError(ErrorCode.invalid_config, str(exc)) from exc

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
