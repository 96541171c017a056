"""AlterPartition: a partition leader asks to shrink or expand its ISR.

Validated in Kafka's order (``ReplicationControlManager.alterPartition``): the sender's broker
epoch (STALE_BROKER_EPOCH), then per partition: unknown partition
(UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID); epochs *ahead* of the controller's
(NOT_CONTROLLER: this controller is behind); a sender that is not the leader
(INVALID_REQUEST); a stale leader epoch (FENCED_LEADER_EPOCH); a stale partition epoch
(INVALID_UPDATE_VERSION); a new ISR naming a fenced, shutting-down or unregistered broker
(INELIGIBLE_REPLICA, KIP-841), or a broker at another epoch than the leader saw it at
(INELIGIBLE_REPLICA, KIP-903); a new ISR that is not a subset of the replicas, repeats a
broker or leaves out the leader (INVALID_REQUEST). An accepted change is a
PartitionChangeRecord of the ISR alone (the leader epoch stays); the answer carries the
partition's state after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from broker.controller.partition_change import is_active
from broker.controller.result import ControllerResult
from broker.metadata.image import MetadataImage, PartitionRegistration
from broker.metadata.records import PartitionChangeRecord


@dataclass(frozen=True, slots=True)
class IsrChange:
    """One partition of an AlterPartition request."""

    topic_id: uuid.UUID
    partition_id: int
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]
    # The broker epoch of each new ISR member as the leader knows it (AlterPartition v3+,
    # KIP-903; -1: unknown); empty when the request carries none.
    new_isr_epochs: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class IsrChangeAnswer:
    """One partition's answer: on success, its state once the change is applied."""

    topic_id: uuid.UUID
    partition_id: int
    error_code: ErrorCode
    leader_id: int = -1
    leader_epoch: int = -1
    isr: tuple[int, ...] = ()
    partition_epoch: int = -1


@dataclass(frozen=True, slots=True)
class AlterPartitionAnswer:
    error_code: ErrorCode
    partitions: list[IsrChangeAnswer]


def alter_partition(
    image: MetadataImage,
    broker_id: int,
    broker_epoch: int,
    changes: Sequence[IsrChange],
) -> ControllerResult[AlterPartitionAnswer]:
    """AlterPartition from ``broker_id`` at ``broker_epoch``."""
    broker = image.brokers.get(broker_id)
    if broker is None or broker.epoch != broker_epoch:
        return ControllerResult((), AlterPartitionAnswer(ErrorCode.stale_broker_epoch, []))
    records = []
    answers = []
    for change in changes:
        topic = image.topics_by_id.get(change.topic_id)
        partition = None if topic is None else topic.partitions.get(change.partition_id)
        if topic is None or partition is None:
            code = ErrorCode.unknown_topic_or_partition if topic else ErrorCode.unknown_topic_id
            answers.append(IsrChangeAnswer(change.topic_id, change.partition_id, code))
            continue
        code = _refusal(image, broker_id, partition, change)
        if code is not None:
            answers.append(IsrChangeAnswer(change.topic_id, change.partition_id, code))
            continue
        after = partition
        if change.new_isr != partition.isr:
            record = PartitionChangeRecord(change.partition_id, change.topic_id, isr=change.new_isr)
            records.append(record)
            image = image.apply(record)  # a later change to the same partition sees this one
            after = partition.merge(record)
        answers.append(
            IsrChangeAnswer(
                change.topic_id,
                change.partition_id,
                ErrorCode.none,
                leader_id=after.leader,
                leader_epoch=after.leader_epoch,
                isr=after.isr,
                partition_epoch=after.partition_epoch,
            )
        )
    return ControllerResult(tuple(records), AlterPartitionAnswer(ErrorCode.none, answers))


def _refusal(
    image: MetadataImage, broker_id: int, partition: PartitionRegistration, change: IsrChange
) -> ErrorCode | None:
    if (
        change.leader_epoch > partition.leader_epoch
        or change.partition_epoch > partition.partition_epoch
    ):
        return ErrorCode.not_controller
    if partition.leader != broker_id:
        return ErrorCode.invalid_request
    if change.leader_epoch < partition.leader_epoch:
        return ErrorCode.fenced_leader_epoch
    if change.partition_epoch < partition.partition_epoch:
        return ErrorCode.invalid_update_version
    if any(not is_active(image, replica) for replica in change.new_isr):
        return ErrorCode.ineligible_replica
    for replica, epoch in zip(change.new_isr, change.new_isr_epochs, strict=False):
        if epoch != -1 and image.brokers[replica].epoch != epoch:
            return ErrorCode.ineligible_replica  # a replica from before the broker restarted
    isr = change.new_isr
    if (
        len(set(isr)) != len(isr)
        or not set(isr) <= set(partition.replicas)
        or partition.leader not in isr
    ):
        return ErrorCode.invalid_request
    return None
