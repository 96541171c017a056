"""How the controller channel reads an answer: NOT_CONTROLLER at the top or in every topic,
for answers whose topics carry no error code of their own too (AlterPartition)."""

from __future__ import annotations

import datetime
import uuid

from kio.schema.alter_partition.v3.response import (
    AlterPartitionResponse,
    PartitionData,
    TopicData,
)
from kio.schema.errors import ErrorCode

from broker.net.forwarding import _not_controller


def _alter_partition_answer(top: ErrorCode) -> AlterPartitionResponse:
    partition = PartitionData(
        partition_index=0,
        error_code=ErrorCode.none,
        leader_id=1,
        leader_epoch=3,
        isr=(1, 2, 3),
        partition_epoch=7,
    )
    return AlterPartitionResponse(
        throttle_time=datetime.timedelta(0),
        error_code=top,
        topics=(TopicData(topic_id=uuid.uuid4(), partitions=(partition,)),),
    )


def test_an_alter_partition_answer_is_read_without_a_per_topic_error_code():
    """Its topics have no error_code (only its partitions do): reading one as a topic API's
    answer raised AttributeError, and the ISR updater retried a change already committed."""
    assert _not_controller(_alter_partition_answer(ErrorCode.none)) is False
    assert _not_controller(_alter_partition_answer(ErrorCode.not_controller)) is True
