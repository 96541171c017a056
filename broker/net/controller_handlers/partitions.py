"""AlterPartition (56) and ElectLeaders (43): ISR changes from partition leaders, and
preferred or unclean leader elections asked for by an admin (or forwarded by a broker; the
wire format is shared with the client listener's ``broker.net.handlers.elect_leaders``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.controller.isr import IsrChange, IsrChangeAnswer
from broker.controller.quorum import NotControllerError
from broker.net.controller_handlers.active import active_controller
from broker.net.handlers.elect_leaders import (
    answered,
    asked_partitions,
    election_type_of,
    refused,
)
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.controller_handlers import ControllerContext


async def alter_partition(context: ControllerContext, request: Request) -> dict:
    body = request.body
    changes = []
    for topic in body.topics:
        for partition in topic.partitions:
            if hasattr(partition, "new_isr_with_epochs"):  # v3+ (KIP-903)
                members = partition.new_isr_with_epochs
                isr = tuple(member.broker_id for member in members)
                epochs = tuple(member.broker_epoch for member in members)
            else:
                isr, epochs = tuple(partition.new_isr), ()
            changes.append(
                IsrChange(
                    topic.topic_id,
                    partition.partition_index,
                    partition.leader_epoch,
                    partition.partition_epoch,
                    isr,
                    epochs,
                )
            )
    try:
        answer = await active_controller(context).alter_partition(
            body.broker_id, body.broker_epoch, changes
        )
    except NotControllerError:
        return {"throttle_time": 0, "error_code": ErrorCode.not_controller, "topics": []}
    topics: dict = {}
    for result in answer.partitions:
        topics.setdefault(result.topic_id, []).append(_partition(result))
    return {
        "throttle_time": 0,
        "error_code": answer.error_code,
        "topics": [
            {"topic_id": topic_id, "partitions": partitions}
            for topic_id, partitions in topics.items()
        ],
    }


def _partition(result: IsrChangeAnswer) -> dict:
    return {
        "partition_index": result.partition_id,
        "error_code": result.error_code,
        "leader_id": result.leader_id,
        "leader_epoch": result.leader_epoch,
        "isr": result.isr,
        "leader_recovery_state": 0,  # RECOVERED: this broker never elects uncleanly mid-way
        "partition_epoch": result.partition_epoch,
    }


async def elect_leaders(context: ControllerContext, request: Request) -> dict:
    body = request.body
    asked = asked_partitions(body)
    try:
        election_type = election_type_of(body)
    except ValueError:
        return refused(asked, ErrorCode.invalid_request, "Unknown election type.")
    try:
        answers = await active_controller(context).elect_leaders(election_type, asked)
    except NotControllerError as error:
        return refused(asked, ErrorCode.not_controller, str(error))
    return answered(answers)


SPECS = [
    ApiSpec(43, "ElectLeaders", 0, 2, elect_leaders),
    ApiSpec(56, "AlterPartition", 2, 3, alter_partition),
]
