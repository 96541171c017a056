"""The metadata image: what every node knows about the cluster, as one immutable value.

Brokers, topics with their partitions (replicas, ISR, leader, leader epoch, partition epoch),
config overrides and the next free producer id. An image is never changed: applying records
(:meth:`MetadataImage.apply`, or a :class:`MetadataDelta` for many at once, as Kafka's
``MetadataDelta`` does) yields a new image and leaves the old one as it was, so a reader that
holds an image sees one consistent moment however long it takes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from broker.metadata.records import (
    NO_LEADER_CHANGE,
    ConfigRecord,
    ConfigResourceType,
    Endpoint,
    FenceBrokerRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)

log = logging.getLogger("broker.metadata")

ConfigKey = tuple[ConfigResourceType, str]
_EMPTY: Mapping = MappingProxyType({})  # the one empty mapping every image shares


class MetadataError(ValueError):
    """A record that does not fit the image (an unknown topic or broker, a stale epoch)."""


@dataclass(frozen=True, slots=True)
class BrokerRegistration:
    """One registered broker, as its latest RegisterBrokerRecord and fencing left it."""

    id: int
    epoch: int
    incarnation_id: uuid.UUID
    endpoints: tuple[Endpoint, ...] = ()
    rack: str | None = None
    fenced: bool = True
    in_controlled_shutdown: bool = False

    @classmethod
    def from_record(cls, record: RegisterBrokerRecord) -> BrokerRegistration:
        return cls(
            id=record.broker_id,
            epoch=record.broker_epoch,
            incarnation_id=record.incarnation_id,
            endpoints=record.end_points,
            rack=record.rack,
            fenced=record.fenced,
            in_controlled_shutdown=record.in_controlled_shutdown,
        )

    def to_record(self) -> RegisterBrokerRecord:
        """The RegisterBrokerRecord that registers this broker as it stands."""
        return RegisterBrokerRecord(
            broker_id=self.id,
            incarnation_id=self.incarnation_id,
            broker_epoch=self.epoch,
            end_points=self.endpoints,
            rack=self.rack,
            fenced=self.fenced,
            in_controlled_shutdown=self.in_controlled_shutdown,
        )


@dataclass(frozen=True, slots=True)
class PartitionRegistration:
    """One partition's replica set and leadership."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int = 0
    partition_epoch: int = 0

    def merge(self, change: PartitionChangeRecord) -> PartitionRegistration:
        """This partition after ``change``: a new partition epoch always, a new leader
        epoch when the change names a leader (as Kafka's PartitionRegistration.merge)."""
        leader, leader_epoch = self.leader, self.leader_epoch
        if change.leader != NO_LEADER_CHANGE:
            leader, leader_epoch = change.leader, self.leader_epoch + 1
        return PartitionRegistration(
            replicas=self.replicas if change.replicas is None else change.replicas,
            isr=self.isr if change.isr is None else change.isr,
            leader=leader,
            leader_epoch=leader_epoch,
            partition_epoch=self.partition_epoch + 1,
        )


@dataclass(frozen=True, slots=True)
class TopicImage:
    """A topic and its partitions by index."""

    name: str
    topic_id: uuid.UUID
    partitions: Mapping[int, PartitionRegistration] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class MetadataImage:
    """The whole metadata at one point of the log. Build one with :meth:`apply`."""

    brokers: Mapping[int, BrokerRegistration] = field(default_factory=lambda: _EMPTY)
    topics: Mapping[str, TopicImage] = field(default_factory=lambda: _EMPTY)
    topics_by_id: Mapping[uuid.UUID, TopicImage] = field(default_factory=lambda: _EMPTY)
    configs: Mapping[ConfigKey, Mapping[str, str]] = field(default_factory=lambda: _EMPTY)
    next_producer_id: int = 0

    def apply(self, record: MetadataRecord) -> MetadataImage:
        """A new image with ``record`` applied; this one stays as it is."""
        return self.apply_all((record,))

    def apply_all(self, records: Iterable[MetadataRecord]) -> MetadataImage:
        """A new image with ``records`` applied in order; this one stays as it is."""
        delta = MetadataDelta(self)
        for record in records:
            delta.replay(record)
        return delta.apply()

    def partition(self, topic: str, index: int) -> PartitionRegistration | None:
        entry = self.topics.get(topic)
        return None if entry is None else entry.partitions.get(index)

    def topic_config(self, topic: str) -> Mapping[str, str]:
        """The topic's config overrides (empty when it has none)."""
        return self.configs.get((ConfigResourceType.TOPIC, topic), _EMPTY)

    def all_partitions(self) -> Iterator[tuple[TopicImage, int, PartitionRegistration]]:
        for topic in self.topics.values():
            for index, partition in topic.partitions.items():
                yield topic, index, partition


@dataclass
class MetadataDelta:
    """Records applied on top of ``base``, copied only where they change it; :meth:`apply`
    turns them into a new image. Replaying a record that does not fit raises
    :class:`MetadataError` and leaves the delta as it was before that record."""

    base: MetadataImage
    brokers: dict[int, BrokerRegistration] | None = None
    # Topics changed or created (by id) and removed (ids), against the base.
    changed_topics: dict[uuid.UUID, TopicImage] = field(default_factory=dict)
    changed_names: dict[str, uuid.UUID] = field(default_factory=dict)  # of changed_topics
    removed_topics: dict[uuid.UUID, TopicImage] = field(default_factory=dict)
    configs: dict[ConfigKey, Mapping[str, str]] | None = None
    next_producer_id: int | None = None

    def replay(self, record: MetadataRecord) -> None:
        match record:
            case RegisterBrokerRecord():
                self._brokers()[record.broker_id] = BrokerRegistration.from_record(record)
            case FenceBrokerRecord() | UnfenceBrokerRecord():
                broker = self._brokers().get(record.id)
                if broker is None or broker.epoch != record.epoch:
                    raise MetadataError(
                        f"{type(record).__name__} for broker {record.id} at epoch "
                        f"{record.epoch}, which is not registered at that epoch"
                    )
                fenced = isinstance(record, FenceBrokerRecord)
                self._brokers()[record.id] = replace(broker, fenced=fenced)
            case TopicRecord():
                if self.topic(record.name) is not None:
                    raise MetadataError(f"topic {record.name!r} exists already")
                if self.topic_by_id(record.topic_id) is not None:
                    raise MetadataError(f"topic id {record.topic_id} exists already")
                self.removed_topics.pop(record.topic_id, None)
                self.changed_topics[record.topic_id] = TopicImage(record.name, record.topic_id)
                self.changed_names[record.name] = record.topic_id
            case PartitionRecord():
                registration = PartitionRegistration(
                    replicas=record.replicas,
                    isr=record.isr,
                    leader=record.leader,
                    leader_epoch=record.leader_epoch,
                    partition_epoch=record.partition_epoch,
                )
                self._set_partition(record.topic_id, record.partition_id, registration)
            case PartitionChangeRecord():
                topic = self._topic_or_error(record.topic_id)
                current = topic.partitions.get(record.partition_id)
                if current is None:
                    raise MetadataError(
                        f"partition {record.partition_id} of topic {topic.name!r} is unknown"
                    )
                self._set_partition(record.topic_id, record.partition_id, current.merge(record))
            case RemoveTopicRecord():
                topic = self._topic_or_error(record.topic_id)
                self.changed_topics.pop(record.topic_id, None)
                self.changed_names.pop(topic.name, None)
                if record.topic_id in self.base.topics_by_id:
                    self.removed_topics[record.topic_id] = topic
                self._configs().pop((ConfigResourceType.TOPIC, topic.name), None)
            case ConfigRecord():
                configs = self._configs()
                key = (record.resource_type, record.resource_name)
                values = dict(configs.get(key, {}))
                if record.value is None:
                    values.pop(record.name, None)
                else:
                    values[record.name] = record.value
                if values:
                    configs[key] = MappingProxyType(values)
                else:
                    configs.pop(key, None)
            case ProducerIdsRecord():
                self.next_producer_id = record.next_producer_id
            case _:
                raise MetadataError(f"not a metadata record: {record!r}")

    def topic(self, name: str) -> TopicImage | None:
        """The topic named ``name`` as this delta has it (changed, or from the base)."""
        if name in self.changed_names:
            return self.changed_topics[self.changed_names[name]]
        topic = self.base.topics.get(name)
        if topic is None or topic.topic_id in self.removed_topics:
            return None
        return topic

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicImage | None:
        if topic_id in self.changed_topics:
            return self.changed_topics[topic_id]
        if topic_id in self.removed_topics:
            return None
        return self.base.topics_by_id.get(topic_id)

    def apply(self) -> MetadataImage:
        """The base image with every replayed record applied."""
        base = self.base
        topics_by_id = base.topics_by_id
        topics = base.topics
        if self.changed_topics or self.removed_topics:
            by_id = dict(base.topics_by_id)
            for topic_id in self.removed_topics:
                del by_id[topic_id]
            for topic_id, topic in self.changed_topics.items():
                frozen = MappingProxyType(dict(topic.partitions))
                by_id[topic_id] = replace(topic, partitions=frozen)
            topics_by_id = MappingProxyType(by_id)
            topics = MappingProxyType({t.name: t for t in by_id.values()})
        return MetadataImage(
            brokers=base.brokers if self.brokers is None else MappingProxyType(self.brokers),
            topics=topics,
            topics_by_id=topics_by_id,
            configs=base.configs if self.configs is None else MappingProxyType(self.configs),
            next_producer_id=(
                base.next_producer_id if self.next_producer_id is None else self.next_producer_id
            ),
        )

    # -- helpers ------------------------------------------------------------------------

    def _brokers(self) -> dict[int, BrokerRegistration]:
        if self.brokers is None:
            self.brokers = dict(self.base.brokers)
        return self.brokers

    def _configs(self) -> dict[ConfigKey, Mapping[str, str]]:
        if self.configs is None:
            self.configs = dict(self.base.configs)
        return self.configs

    def _topic_or_error(self, topic_id: uuid.UUID) -> TopicImage:
        topic = self.topic_by_id(topic_id)
        if topic is None:
            raise MetadataError(f"topic id {topic_id} is unknown")
        return topic

    def _set_partition(
        self, topic_id: uuid.UUID, index: int, registration: PartitionRegistration
    ) -> None:
        topic = self._topic_or_error(topic_id)
        partitions = topic.partitions
        if not isinstance(partitions, dict):  # the base's read-only view: copy once
            partitions = dict(partitions)
        partitions[index] = registration
        self.changed_topics[topic_id] = replace(topic, partitions=partitions)
        self.changed_names[topic.name] = topic_id


def apply_entries(
    image: MetadataImage, entries: Sequence[tuple[int, Sequence[MetadataRecord]]]
) -> MetadataImage:
    """``image`` with the records of many metadata-log entries (offset, records) applied in
    order, through one delta: replaying a long log costs what it holds, not an image per entry.
    An entry that does not fit is skipped whole, as every node skips it, so the images of all
    nodes still agree."""
    delta = MetadataDelta(image)
    applied: list[Sequence[MetadataRecord]] = []
    for offset, records in entries:
        try:
            for record in records:
                delta.replay(record)
        except MetadataError as error:
            log.error("metadata entry at offset %d not applied: %s", offset, error)
            # Its records before the one that failed are in the delta: start again without it.
            delta = MetadataDelta(image)
            for good in applied:
                for record in good:
                    delta.replay(record)
            continue
        applied.append(records)
    return delta.apply()
