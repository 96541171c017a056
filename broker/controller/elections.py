"""Partition changes the cluster causes: a broker leaving or returning, ElectLeaders, and
``auto.leader.rebalance.enable``'s preferred-leader elections.

Each function reads one image and returns the :class:`PartitionChangeRecord` list (or a
:class:`ControllerResult`) to apply on top of it; see :mod:`.partition_change` for the rules.
``unclean_default`` is the active controller's static ``unclean.leader.election.enable``: it
decides only where neither the topic nor the cluster-wide dynamic configs set it.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from kio.schema.errors import ErrorCode

from broker.controller.partition_change import (
    Election,
    change_partition,
    is_active,
    unclean_election_enabled,
)
from broker.controller.result import ControllerResult
from broker.metadata.image import MetadataImage
from broker.metadata.records import NO_LEADER, PartitionChangeRecord


def move_off(
    image: MetadataImage,
    broker_id: int,
    *,
    unclean_default: bool,
    bump_leader_epochs: bool = False,
) -> list[PartitionChangeRecord]:
    """Take ``broker_id`` out of every ISR (but never empty one) and give its leaderships to
    other active ISR members, as Kafka does when a broker is fenced or shuts down. ``image``
    must already show the broker fenced or in controlled shutdown. ``bump_leader_epochs``
    bumps the leader epoch of each of those partitions even where the leader stays (Kafka's
    controlled shutdown)."""
    active = partial(is_active, image)
    records = []
    for topic, index, partition in image.all_partitions():
        if broker_id not in partition.isr and partition.leader != broker_id:
            continue
        target = tuple(r for r in partition.isr if r != broker_id)
        change = change_partition(
            topic.topic_id,
            index,
            partition,
            active,
            target_isr=target,
            unclean_allowed=unclean_election_enabled(image, topic.name, unclean_default),
            bump_leader_epoch=bump_leader_epochs,
        )
        if change is not None:
            records.append(change)
    return records


def elect_offline(image: MetadataImage, *, unclean_default: bool) -> list[PartitionChangeRecord]:
    """Leaders for offline partitions (leader -1) that now have an eligible replica: an ISR
    member that came back, or any active replica where unclean election is enabled."""
    active = partial(is_active, image)
    records = []
    for topic, index, partition in image.all_partitions():
        if partition.leader != NO_LEADER:
            continue
        change = change_partition(
            topic.topic_id,
            index,
            partition,
            active,
            unclean_allowed=unclean_election_enabled(image, topic.name, unclean_default),
        )
        if change is not None:
            records.append(change)
    return records


DEFAULT_IMBALANCE_PERCENTAGE = 10
"""``leader.imbalance.per.broker.percentage`` (Kafka's default)."""


def rebalance_preferred(
    image: MetadataImage, imbalance_percentage: int = DEFAULT_IMBALANCE_PERCENTAGE
) -> list[PartitionChangeRecord]:
    """What ``auto.leader.rebalance.enable`` (a static controller setting: the controller
    calls this only when it is on) does on each check, as Kafka's controller checks
    ``leader.imbalance.per.broker.percentage``: for each broker, the share of the partitions
    it is the preferred (first) replica of that another broker leads; above the percentage,
    those partitions go back to it where it may lead."""
    preferred_of: dict[int, list] = defaultdict(list)
    for topic, index, partition in image.all_partitions():
        preferred_of[partition.replicas[0]].append((topic, index, partition))
    active = partial(is_active, image)
    records = []
    for broker_id in sorted(preferred_of):
        partitions = preferred_of[broker_id]
        elsewhere = [(t, i, p) for t, i, p in partitions if p.leader != broker_id]
        if len(elsewhere) * 100 <= imbalance_percentage * len(partitions):
            continue
        for topic, index, partition in elsewhere:
            change = change_partition(
                topic.topic_id, index, partition, active, election=Election.PREFERRED
            )
            if change is not None:
                records.append(change)
    return records


class ElectionType(enum.IntEnum):
    """ElectLeaders' ``election_type`` (Kafka's ElectionType codes)."""

    PREFERRED = 0
    UNCLEAN = 1


@dataclass(frozen=True, slots=True)
class ElectionAnswer:
    """One partition's outcome in ElectLeaders."""

    topic: str
    partition: int
    error_code: ErrorCode
    message: str | None = None


def elect_leaders(
    image: MetadataImage,
    election_type: ElectionType,
    partitions: Iterable[tuple[str, int]] | None = None,
) -> ControllerResult[list[ElectionAnswer]]:
    """ElectLeaders: a preferred or unclean election for ``partitions`` (None: all of them).

    Per partition, as Kafka answers: ELECTION_NOT_NEEDED when the preferred replica already
    leads (PREFERRED) or a leader exists (UNCLEAN); PREFERRED_LEADER_NOT_AVAILABLE or
    ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica may take over;
    UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist. Asked for all
    partitions, it leaves out those that needed no election, as Kafka does."""
    every_partition = partitions is None
    if partitions is None:
        partitions = [(t.name, i) for t, i, _ in image.all_partitions()]
    partitions = list(dict.fromkeys(partitions))  # one answer, one election each
    active = partial(is_active, image)
    records: list[PartitionChangeRecord] = []
    answers = []
    for name, index in partitions:
        topic = image.topics.get(name)
        partition = None if topic is None else topic.partitions.get(index)
        if topic is None or partition is None:
            answers.append(
                ElectionAnswer(
                    name,
                    index,
                    ErrorCode.unknown_topic_or_partition,
                    "The partition does not exist.",
                )
            )
            continue
        if election_type is ElectionType.PREFERRED:
            not_needed = partition.leader == partition.replicas[0]
            election, failure = Election.PREFERRED, ErrorCode.preferred_leader_not_available
        else:
            not_needed = partition.leader != NO_LEADER
            election, failure = Election.UNCLEAN, ErrorCode.eligible_leaders_not_available
        if not_needed:
            if every_partition:
                continue
            answers.append(
                ElectionAnswer(
                    name,
                    index,
                    ErrorCode.election_not_needed,
                    "Leader election not needed for topic partition.",
                )
            )
            continue
        change = change_partition(topic.topic_id, index, partition, active, election=election)
        if election_type is ElectionType.PREFERRED:
            succeeded = change is not None and change.leader == partition.replicas[0]
        else:  # a new leader, not NO_LEADER or NO_LEADER_CHANGE
            succeeded = change is not None and change.leader >= 0
        if not succeeded:
            answers.append(
                ElectionAnswer(name, index, failure, "Failed to elect leader for topic partition.")
            )
            continue
        records.append(change)
        answers.append(ElectionAnswer(name, index, ErrorCode.none))
    return ControllerResult(tuple(records), answers)
