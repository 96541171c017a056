"""The metadata records: every change to the cluster's metadata is one of these.

Named and shaped after Kafka's own metadata records (``metadata/src/main/resources/common/
metadata/*.json`` in apache/kafka), with Kafka's field names in snake case and the fields this
broker does not use left out (ELR, directories, reassignment, features, migration). Records
are plain frozen values: the controller decides which to write, and every node applies them in
log order to its :class:`~broker.metadata.image.MetadataImage`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum

NO_LEADER = -1
"""A partition's leader when no replica may lead it (offline)."""

NO_LEADER_CHANGE = -2
"""``PartitionChangeRecord.leader`` when the leader stays as it is."""


class ConfigResourceType(IntEnum):
    """Kafka's ``ConfigResource.Type`` codes, as ``ConfigRecord.resource_type`` holds them."""

    TOPIC = 2
    BROKER = 4


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One listener of a broker, as ``RegisterBrokerRecord.EndPoints`` lists them."""

    name: str
    host: str
    port: int
    security_protocol: int = 0  # PLAINTEXT


@dataclass(frozen=True, slots=True)
class RegisterBrokerRecord:
    """A broker registered (or registered again, with a new epoch) with the controller."""

    broker_id: int
    incarnation_id: uuid.UUID
    broker_epoch: int
    end_points: tuple[Endpoint, ...] = ()
    rack: str | None = None
    fenced: bool = True
    in_controlled_shutdown: bool = False


@dataclass(frozen=True, slots=True)
class FenceBrokerRecord:
    """The broker ``id`` at ``epoch`` may no longer lead or be in an ISR."""

    id: int
    epoch: int


@dataclass(frozen=True, slots=True)
class UnfenceBrokerRecord:
    """The broker ``id`` at ``epoch`` has caught up and may lead and join ISRs again."""

    id: int
    epoch: int


@dataclass(frozen=True, slots=True)
class TopicRecord:
    """A topic was created; its partitions follow as PartitionRecords."""

    name: str
    topic_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class PartitionRecord:
    """A partition was created (with the topic, or by CreatePartitions)."""

    partition_id: int
    topic_id: uuid.UUID
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int = 0
    partition_epoch: int = 0


@dataclass(frozen=True, slots=True)
class PartitionChangeRecord:
    """A change to one partition. ``None`` (or ``NO_LEADER_CHANGE`` for the leader) leaves
    a field as it is. Applying it bumps the partition epoch, and the leader epoch too when
    ``leader`` is given (even if it names the same leader: that is how Kafka fences)."""

    partition_id: int
    topic_id: uuid.UUID
    isr: tuple[int, ...] | None = None
    leader: int = NO_LEADER_CHANGE
    replicas: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class RemoveTopicRecord:
    """The topic with this id is deleted, with its partitions and config overrides."""

    topic_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """Set (or, with ``value`` None, remove) one config of a topic or broker. A broker
    resource named "" is the cluster-wide default."""

    resource_type: ConfigResourceType
    resource_name: str
    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class ProducerIdsRecord:
    """A block of producer ids handed to ``broker_id``: ids below ``next_producer_id`` are
    taken."""

    broker_id: int
    broker_epoch: int
    next_producer_id: int


MetadataRecord = (
    RegisterBrokerRecord
    | FenceBrokerRecord
    | UnfenceBrokerRecord
    | TopicRecord
    | PartitionRecord
    | PartitionChangeRecord
    | RemoveTopicRecord
    | ConfigRecord
    | ProducerIdsRecord
)
"""Any one metadata record."""
