"""The metadata image: topics, their ids, partition counts, config overrides and epochs.

Persisted as ``cluster-metadata.json`` in the data directory, rewritten atomically on every
change, so a restart (clean or not) sees exactly the topics that were acknowledged. The image
is the truth about which partition directories belong: a topic being created or deleted has
its id listed under ``doomed`` until its directories are complete (or gone), so a crash in
between leaves directories that the next start removes, and a directory the image does not
know at all is moved aside as a stray.

Creating and deleting directories runs in a worker thread: a 3,000-partition topic takes
seconds of file work, during which every other client is served. Once begun, a change runs to
its end even if the client that asked goes away meanwhile, as on Kafka's controller.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kio.schema.errors import ErrorCode

from broker.cluster.partition import Partition
from broker.storage.checkpoint import write_atomically
from broker.storage.config import LogConfig
from broker.storage.errors import StorageError
from broker.storage.log import PartitionLog
from broker.storage.manager import LogManager

log = logging.getLogger("broker.cluster")

T = TypeVar("T")

IMAGE_FILE = "cluster-metadata.json"
OFFSETS_TOPIC = "__consumer_offsets"
INTERNAL_TOPICS = frozenset({OFFSETS_TOPIC})
_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


class TopicError(Exception):
    """A topic operation refused with a Kafka error code (``code``) and a message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def collision_key(name: str) -> str:
    """Kafka's metric names turn '.' into '_': two topics equal after that collide."""
    return name.replace(".", "_")


def validate_topic_name(name: str) -> None:
    if name in (".", "..") or not _LEGAL_TOPIC.match(name):
        raise TopicError(
            ErrorCode.invalid_topic_exception,
            f"topic name {name!r} is illegal: use 1-249 of the characters a-z A-Z 0-9 . _ -",
        )


@dataclass
class Topic:
    name: str
    topic_id: uuid.UUID
    overrides: dict[str, str]
    config: LogConfig
    partitions: list[Partition] = field(default_factory=list)

    @property
    def internal(self) -> bool:
        """Kafka's own bookkeeping (committed offsets): clients may read it, not write it."""
        return self.name in INTERNAL_TOPICS


def new_cluster_id() -> str:
    """A Kafka-style cluster id: a random UUID in url-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class ClusterMetadata:
    """Topics by name and id, backed by the log manager and the JSON image."""

    def __init__(self, data_dir: Path, logs: LogManager, defaults: LogConfig) -> None:
        self._path = data_dir / IMAGE_FILE
        self._logs = logs
        self.defaults = defaults
        self.cluster_id = new_cluster_id()
        self.topics: dict[str, Topic] = {}
        self.topics_by_id: dict[uuid.UUID, Topic] = {}
        self.next_producer_id = 0
        # Topics whose directories are being made or removed, and their ids (see the module).
        self.creating: dict[str, uuid.UUID] = {}
        self.deleting: dict[str, uuid.UUID] = {}
        self._unfinished: set[asyncio.Task[Any]] = set()
        # Called once a topic is deleted (the group coordinator drops its committed offsets,
        # as Kafka's onPartitionsDeleted does).
        self.on_topic_deleted: Callable[[], None] = lambda: None
        # Bumped by every image taken (save, save_aside), which every change of topics or
        # partitions takes at once, so an answer computed from this image (a Metadata
        # response) is valid while it holds.
        self.generation = 0
        self._written = 0  # the generation on disk
        self._writing = threading.Lock()

    # -- loading and saving -------------------------------------------------------------

    def load(self) -> None:
        """Read the image and open every partition's log (recovering as needed)."""
        image = json.loads(self._path.read_text()) if self._path.exists() else {}
        self.cluster_id = image.get("cluster_id", self.cluster_id)
        self.next_producer_id = image.get("next_producer_id", 0)
        stored = image.get("topics", {})
        configs = {name: self._config(entry.get("configs", {})) for name, entry in stored.items()}
        doomed = {uuid.UUID(topic_id) for topic_id in image.get("doomed", {}).values()}

        def known(key: tuple[str, int], topic_id: uuid.UUID) -> bool:
            entry = stored.get(key[0])
            return (
                entry is not None
                and uuid.UUID(entry["id"]) == topic_id
                and key[1] < len(entry["leader_epochs"])
            )

        logs = self._logs.load(
            lambda topic: configs.get(topic, self.defaults), known=known, doomed=doomed
        )
        for name, entry in stored.items():
            topic = Topic(name, uuid.UUID(entry["id"]), dict(entry["configs"]), configs[name])
            for index, epoch in enumerate(entry["leader_epochs"]):
                partition_log = logs.get((name, index))
                if partition_log is None:  # acknowledged in the image but the directory is gone
                    partition_log = self._logs.create(name, index, topic.topic_id, topic.config)
                    partition_log.assign_epoch(epoch, 0)
                topic.partitions.append(Partition(name, index, partition_log, epoch))
            self._index(topic)
        self.save()

    def save(self) -> None:
        """Write the image now, blocking (start-up, and small changes that must be durable
        before their answer)."""
        self._write(*self._image())

    def save_aside(self) -> Coroutine[Any, Any, None]:
        """Take the image as it is now; awaiting the result writes it in a worker thread and
        returns once it is durable. For admin requests, whose answer waits anyway: the fsyncs
        do not hold up the loop."""
        return asyncio.to_thread(self._write, *self._image())

    def _image(self) -> tuple[int, str]:
        """The image as it is now, with the generation that names it."""
        self.generation += 1
        image = {
            "cluster_id": self.cluster_id,
            "next_producer_id": self.next_producer_id,
            "doomed": {
                name: str(topic_id) for name, topic_id in (self.creating | self.deleting).items()
            },
            "topics": {
                t.name: {
                    "id": str(t.topic_id),
                    "configs": t.overrides,
                    "leader_epochs": [p.leader_epoch for p in t.partitions],
                }
                for t in self.topics.values()
            },
        }
        return self.generation, json.dumps(image, indent=1, sort_keys=True)

    def _write(self, generation: int, text: str) -> None:
        """Write one image, never over a newer one: a later generation holds every change
        an earlier one did, so an earlier one still waiting is done already."""
        with self._writing:
            if generation > self._written:
                write_atomically(self._path, text)
                self._written = generation

    # -- queries ------------------------------------------------------------------------

    def partition(self, topic: str, index: int) -> Partition | None:
        entry = self.topics.get(topic)
        if entry is None or not 0 <= index < len(entry.partitions):
            return None
        return entry.partitions[index]

    def all_partitions(self) -> Iterator[Partition]:
        for topic in self.topics.values():
            yield from topic.partitions

    def high_watermarks(self) -> dict[tuple[str, int], int]:
        return {(p.topic, p.index): p.high_watermark for p in self.all_partitions()}

    # -- changes ------------------------------------------------------------------------

    async def create_topic(
        self,
        name: str,
        num_partitions: int,
        overrides: Mapping[str, str] | None = None,
        *,
        validate_only: bool = False,
    ) -> Topic | None:
        """Create a topic (or only check that it could be created). Raises TopicError."""
        validate_topic_name(name)
        if name in self.topics or name in self.creating:
            raise TopicError(ErrorCode.topic_already_exists, f"Topic '{name}' already exists.")
        if name in self.deleting:
            raise TopicError(
                ErrorCode.topic_already_exists, f"Topic '{name}' is marked for deletion."
            )
        colliding = sorted(
            other
            for other in self.topics.keys() | self.creating.keys()
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
        topic = Topic(name, uuid.uuid4(), overrides, config)
        self.creating[name] = topic.topic_id
        return await self._to_the_end(self._create(topic, num_partitions))

    async def _create(self, topic: Topic, num_partitions: int) -> Topic:
        try:
            await self.save_aside()  # the id is doomed until the topic is complete
            logs = await self._make_logs(topic, num_partitions)
            self._add_logs(topic, logs)
            self._index(topic)
        finally:
            del self.creating[topic.name]
        await self.save_aside()
        return topic

    async def add_partitions(self, name: str, total: int, *, validate_only: bool = False) -> None:
        topic = self.topics.get(name)
        if topic is None:
            raise TopicError(ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist")
        if total <= len(topic.partitions):
            raise TopicError(
                ErrorCode.invalid_partitions,
                f"topic {name!r} has {len(topic.partitions)} partitions; "
                f"the new count must be larger, got {total}",
            )
        if validate_only:
            return
        await self._to_the_end(self._add(topic, total))

    async def _add(self, topic: Topic, total: int) -> None:
        # A crash before the save leaves directories past the image's count: strays.
        self._add_logs(topic, await self._make_logs(topic, total))
        await self.save_aside()

    async def delete_topic(self, name: str) -> Topic:
        if name in INTERNAL_TOPICS:
            raise TopicError(
                ErrorCode.invalid_topic_exception,
                f"{name} is an internal topic and cannot be deleted",
            )
        topic = self.topics.pop(name, None)
        if topic is None:
            raise TopicError(ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist")
        del self.topics_by_id[topic.topic_id]
        self.deleting[name] = topic.topic_id
        forgotten = self.save_aside()  # taken now: answers from now on lack the topic
        return await self._to_the_end(self._remove(topic, forgotten))

    async def _remove(self, topic: Topic, forgotten: Coroutine[Any, Any, None]) -> Topic:
        name = topic.name
        await forgotten  # first: a crash mid-delete must not resurrect it
        self.on_topic_deleted()
        logs = self._logs.unregister(name, range(len(topic.partitions)))
        try:
            await asyncio.to_thread(self._logs.remove, logs)
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
        producer_id = self.next_producer_id
        self.next_producer_id += 1
        self.save()
        return producer_id

    # -- helpers ------------------------------------------------------------------------

    def _config(self, overrides: Mapping[str, str]) -> LogConfig:
        return LogConfig.from_properties(overrides, base=self.defaults)

    def _config_or_error(self, overrides: Mapping[str, str]) -> LogConfig:
        try:
            return self._config(overrides)
        except ValueError as exc:
            raise TopicError(ErrorCode.invalid_config, str(exc)) from exc

    async def _to_the_end(self, change: Coroutine[Any, Any, T]) -> T:
        """Await ``change``, which goes on to its end even if this await is cancelled."""
        task = asyncio.ensure_future(change)
        self._unfinished.add(task)
        task.add_done_callback(self._unfinished.discard)
        return await asyncio.shield(task)

    async def _make_logs(self, topic: Topic, total: int) -> list[PartitionLog]:
        """Make the directories of partitions up to ``total`` in a worker thread."""
        wanted = range(len(topic.partitions), total)
        make = self._logs.make
        try:
            return await asyncio.to_thread(
                make, topic.name, wanted, topic.topic_id, topic.config, leader_epoch=0
            )
        except (OSError, StorageError) as err:
            raise TopicError(
                ErrorCode.kafka_storage_error, f"cannot create topic {topic.name!r}: {err}"
            ) from err

    def _add_logs(self, topic: Topic, logs: list[PartitionLog]) -> None:
        self._logs.register(logs)
        topic.partitions.extend(Partition(topic.name, pl.partition, pl, 0) for pl in logs)

    def _index(self, topic: Topic) -> None:
        self.topics[topic.name] = topic
        self.topics_by_id[topic.topic_id] = topic
