"""CreateTopics, DeleteTopics and CreatePartitions, as Kafka's ReplicationControlManager
carries them out.

A new partition's replicas come from an explicit assignment (checked: consecutive partition
ids from 0, the same number of distinct registered brokers in each, at least one of them
active) or from :func:`~broker.controller.placement.place_replicas` over the active brokers.
Its ISR is its active replicas and its leader the first of them, at leader and partition
epoch 0. Topic configs are checked as the log will read them (INVALID_CONFIG) and become
ConfigRecords. Each topic is answered on its own: one bad topic
does not stop the others.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from kio.schema.errors import ErrorCode

from broker.controller.partition_change import is_active
from broker.controller.placement import PlacementError, place_replicas
from broker.controller.result import ControllerResult
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    ConfigRecord,
    ConfigResourceType,
    MetadataRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from broker.metadata.topics import TopicError, collision_key, is_internal, validate_topic_name
from broker.storage.config import LogConfig

DEFAULT_NUM_PARTITIONS = 1
"""``num.partitions``: partitions of a topic created without a count."""

DEFAULT_REPLICATION_FACTOR = 1
"""``default.replication.factor``: replicas of a topic created with replication factor -1."""


@dataclass(frozen=True, slots=True)
class NewTopic:
    """One topic of a CreateTopics request (-1: the broker's default)."""

    name: str
    num_partitions: int = -1
    replication_factor: int = -1
    assignments: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreatedTopic:
    """One topic's answer in CreateTopics."""

    name: str
    error_code: ErrorCode
    message: str | None = None
    topic_id: uuid.UUID | None = None
    num_partitions: int = -1
    replication_factor: int = -1


def create_topics(
    image: MetadataImage,
    topics: Sequence[NewTopic],
    *,
    rng: random.Random,
    default_partitions: int = DEFAULT_NUM_PARTITIONS,
    default_replication_factor: int = DEFAULT_REPLICATION_FACTOR,
) -> ControllerResult[list[CreatedTopic]]:
    """CreateTopics. ``rng`` draws the topic ids and the placement's start and shift."""
    counts = Counter(topic.name for topic in topics)
    records: list[MetadataRecord] = []
    answers = []
    for topic in topics:
        try:
            if counts[topic.name] > 1:
                raise TopicError(ErrorCode.invalid_request, "Duplicate topic name.")
            created, answer = _create_one(
                image, topic, rng, default_partitions, default_replication_factor
            )
        except TopicError as refused:
            answers.append(CreatedTopic(topic.name, refused.code, str(refused)))
            continue
        records.extend(created)
        answers.append(answer)
    return ControllerResult(tuple(records), answers)


def _create_one(
    image: MetadataImage,
    topic: NewTopic,
    rng: random.Random,
    default_partitions: int,
    default_replication_factor: int,
) -> tuple[list[MetadataRecord], CreatedTopic]:
    validate_topic_name(topic.name)
    if topic.name in image.topics:
        raise TopicError(ErrorCode.topic_already_exists, f"Topic '{topic.name}' already exists.")
    colliding = sorted(t for t in image.topics if collision_key(t) == collision_key(topic.name))
    if colliding:
        raise TopicError(
            ErrorCode.invalid_topic_exception,
            f"Topic '{topic.name}' collides with existing topics: {', '.join(colliding)}",
        )
    try:
        LogConfig.from_properties(topic.configs)
    except ValueError as error:
        raise TopicError(ErrorCode.invalid_config, str(error)) from None
    if topic.assignments:
        if topic.num_partitions != -1 or topic.replication_factor != -1:
            raise TopicError(
                ErrorCode.invalid_request,
                "Both numPartitions or replicationFactor and replicasAssignments were set. "
                "Both cannot be used at the same time.",
            )
        replicas = _checked_assignments(image, topic.assignments, first_partition=0)
    else:
        partitions = default_partitions if topic.num_partitions == -1 else topic.num_partitions
        factor = (
            default_replication_factor
            if topic.replication_factor == -1
            else topic.replication_factor
        )
        if partitions <= 0:
            raise TopicError(ErrorCode.invalid_partitions, "Number of partitions must be positive.")
        if factor <= 0:
            raise TopicError(
                ErrorCode.invalid_replication_factor, "Replication factor must be positive."
            )
        replicas = _placed(image, partitions, factor, rng, first_partition=0)
    topic_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    records: list[MetadataRecord] = [TopicRecord(topic.name, topic_id)]
    records += _partition_records(image, topic_id, replicas, first_partition=0)
    records += [
        ConfigRecord(ConfigResourceType.TOPIC, topic.name, name, value)
        for name, value in sorted(topic.configs.items())
    ]
    answer = CreatedTopic(
        topic.name,
        ErrorCode.none,
        topic_id=topic_id,
        num_partitions=len(replicas),
        replication_factor=len(replicas[0]),
    )
    return records, answer


@dataclass(frozen=True, slots=True)
class DeletedTopic:
    """One topic's answer in DeleteTopics (named by ``name`` or by ``topic_id``)."""

    name: str | None
    topic_id: uuid.UUID | None
    error_code: ErrorCode
    message: str | None = None


def delete_topics(
    image: MetadataImage,
    names: Sequence[str] = (),
    topic_ids: Sequence[uuid.UUID] = (),
) -> ControllerResult[list[DeletedTopic]]:
    """DeleteTopics, by name and by id: one RemoveTopicRecord per topic found (internal
    topics refused)."""
    records: list[MetadataRecord] = []
    removed: set[uuid.UUID] = set()
    answers = []
    wanted = [(image.topics.get(name), name, None) for name in names]
    wanted += [(image.topics_by_id.get(tid), None, tid) for tid in topic_ids]
    for topic, name, topic_id in wanted:
        if topic is not None and is_internal(topic.name):
            message = f"{topic.name} is an internal topic and cannot be deleted"
            answers.append(DeletedTopic(name, topic_id, ErrorCode.invalid_topic_exception, message))
            continue
        if topic is None:
            code = (
                ErrorCode.unknown_topic_or_partition
                if topic_id is None
                else ErrorCode.unknown_topic_id
            )
            answers.append(DeletedTopic(name, topic_id, code, "This topic does not exist."))
            continue
        if topic.topic_id not in removed:  # named twice: delete once, answer both
            removed.add(topic.topic_id)
            records.append(RemoveTopicRecord(topic.topic_id))
        answers.append(DeletedTopic(topic.name, topic.topic_id, ErrorCode.none))
    return ControllerResult(tuple(records), answers)


@dataclass(frozen=True, slots=True)
class PartitionsIncrease:
    """One topic of a CreatePartitions request: grow it to ``count`` partitions."""

    name: str
    count: int
    assignments: Sequence[tuple[int, ...]] | None = None


@dataclass(frozen=True, slots=True)
class IncreasedTopic:
    """One topic's answer in CreatePartitions."""

    name: str
    error_code: ErrorCode
    message: str | None = None


def create_partitions(
    image: MetadataImage,
    increases: Sequence[PartitionsIncrease],
    *,
    rng: random.Random,
) -> ControllerResult[list[IncreasedTopic]]:
    """CreatePartitions: new partitions with as many replicas as the topic's first one,
    placed like CreateTopics places them, or as ``assignments`` says."""
    named = Counter(increase.name for increase in increases)
    records: list[MetadataRecord] = []
    answers = []
    for increase in increases:
        try:
            if named[increase.name] > 1:
                raise TopicError(ErrorCode.invalid_request, "Duplicate topic name.")
            records += _increase_one(image, increase, rng)
        except TopicError as refused:
            answers.append(IncreasedTopic(increase.name, refused.code, str(refused)))
            continue
        answers.append(IncreasedTopic(increase.name, ErrorCode.none))
    return ControllerResult(tuple(records), answers)


def _increase_one(
    image: MetadataImage, increase: PartitionsIncrease, rng: random.Random
) -> list[MetadataRecord]:
    topic = image.topics.get(increase.name)
    if topic is None:
        raise TopicError(ErrorCode.unknown_topic_or_partition, "This topic does not exist.")
    current = len(topic.partitions)
    if increase.count < current:
        raise TopicError(
            ErrorCode.invalid_partitions,
            f"Topic currently has {current} partitions, which is higher than the requested "
            f"{increase.count}.",
        )
    if increase.count == current:
        raise TopicError(ErrorCode.invalid_partitions, f"Topic already has {current} partitions.")
    added = increase.count - current
    if increase.assignments is not None:
        if len(increase.assignments) != added:
            raise TopicError(
                ErrorCode.invalid_replica_assignment,
                f"Attempted to add {added} additional partition(s), but only "
                f"{len(increase.assignments)} assignment(s) were specified.",
            )
        numbered = {current + i: tuple(r) for i, r in enumerate(increase.assignments)}
        replicas = _checked_assignments(image, numbered, first_partition=current)
    else:
        factor = len(topic.partitions[0].replicas)
        replicas = _placed(image, added, factor, rng, first_partition=current)
    return _partition_records(image, topic.topic_id, replicas, first_partition=current)


# -- shared by create and increase ---------------------------------------------------------


def _placed(
    image: MetadataImage,
    partitions: int,
    factor: int,
    rng: random.Random,
    *,
    first_partition: int,
) -> list[tuple[int, ...]]:
    usable = [b for b in image.brokers if is_active(image, b)]
    start = rng.randrange(len(usable)) if usable else 0
    shift = rng.randrange(len(usable)) if usable else 0
    try:
        return place_replicas(
            usable, partitions, factor, start=start, shift=shift, first_partition=first_partition
        )
    except PlacementError as error:
        raise TopicError(ErrorCode.invalid_replication_factor, str(error)) from None


def _checked_assignments(
    image: MetadataImage, assignments: Mapping[int, tuple[int, ...]], *, first_partition: int
) -> list[tuple[int, ...]]:
    ids = sorted(assignments)
    if ids != list(range(first_partition, first_partition + len(ids))):
        raise TopicError(
            ErrorCode.invalid_replica_assignment,
            "Partitions should be a consecutive 0-based integer sequence.",
        )
    replicas = [tuple(assignments[i]) for i in ids]
    width = len(replicas[0])
    for index, brokers in zip(ids, replicas, strict=True):
        if not brokers:
            raise TopicError(
                ErrorCode.invalid_replica_assignment,
                f"The manual partition assignment for partition {index} is empty.",
            )
        if len(brokers) != width:
            raise TopicError(
                ErrorCode.invalid_replica_assignment,
                f"The manual partition assignment for partition {index} has {len(brokers)} "
                f"replicas, but the first one has {width}: all must have the same number.",
            )
        if len(set(brokers)) != len(brokers):
            raise TopicError(
                ErrorCode.invalid_replica_assignment,
                f"The manual partition assignment for partition {index} names a broker twice.",
            )
        unknown = [b for b in brokers if b not in image.brokers]
        if unknown:
            raise TopicError(
                ErrorCode.invalid_replica_assignment,
                f"The manual partition assignment for partition {index} includes broker(s) "
                f"{unknown} that are not registered.",
            )
        if not any(is_active(image, b) for b in brokers):
            raise TopicError(
                ErrorCode.invalid_replica_assignment,
                f"All brokers specified in the manual partition assignment for partition "
                f"{index} are fenced or in controlled shutdown.",
            )
    return replicas


def _partition_records(
    image: MetadataImage,
    topic_id: uuid.UUID,
    replicas: list[tuple[int, ...]],
    *,
    first_partition: int,
) -> list[MetadataRecord]:
    active = partial(is_active, image)
    records: list[MetadataRecord] = []
    for index, brokers in enumerate(replicas, start=first_partition):
        isr = tuple(b for b in brokers if active(b))
        records.append(PartitionRecord(index, topic_id, brokers, isr, leader=isr[0]))
    return records
