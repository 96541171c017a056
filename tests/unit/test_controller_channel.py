"""What the controller channel takes for NOT_CONTROLLER (ask another voter) and what for an
answer, across the shapes of the controller APIs' responses."""

from __future__ import annotations

import datetime
import uuid

from kio.schema.alter_partition.v3 import response as alter_partition
from kio.schema.create_topics.v7 import response as create_topics
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i16, i32

from broker.net.forwarding import _not_controller


def _alter_partition(error: ErrorCode) -> alter_partition.AlterPartitionResponse:
    partition = alter_partition.PartitionData(
        partition_index=i32(0),
        error_code=ErrorCode.none,
        leader_id=i32(1),
        leader_epoch=i32(2),
        isr=(i32(1), i32(2)),
        leader_recovery_state=i8(0),
        partition_epoch=i32(5),
    )
    return alter_partition.AlterPartitionResponse(
        throttle_time=datetime.timedelta(0),
        error_code=error,
        topics=(alter_partition.TopicData(topic_id=uuid.uuid4(), partitions=(partition,)),),
    )


def test_an_alter_partition_answer_is_an_answer_and_its_top_level_error_is_not_controller():
    # Its topics carry no error code of their own (the partitions do): not a NOT_CONTROLLER.
    assert _not_controller(_alter_partition(ErrorCode.none)) is False
    assert _not_controller(_alter_partition(ErrorCode.not_controller)) is True


def test_a_topic_api_is_not_controller_only_when_every_topic_says_so():
    def answer(*errors: ErrorCode) -> create_topics.CreateTopicsResponse:
        return create_topics.CreateTopicsResponse(
            throttle_time=datetime.timedelta(0),
            topics=tuple(
                create_topics.CreatableTopicResult(
                    name=f"t{i}",
                    topic_id=None,
                    error_code=error,
                    error_message=None,
                    num_partitions=i32(-1),
                    replication_factor=i16(-1),
                    configs=None,
                )
                for i, error in enumerate(errors)
            ),
        )

    assert _not_controller(answer(ErrorCode.not_controller, ErrorCode.not_controller)) is True
    assert _not_controller(answer(ErrorCode.not_controller, ErrorCode.none)) is False
