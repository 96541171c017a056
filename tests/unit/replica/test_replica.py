"""A replica's rules: HW = min LEO over the ISR and never backwards, seeded from the checkpoint;
min.insync.replicas for acks=all; leader-epoch fencing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.protocol.batch import validate_produced
from broker.replica.replica import Replica, ReplicaError
from broker.storage import LogConfig, PartitionLog
from broker.storage.errors import OffsetOutOfRange
from tests.support.batches import make_batch

TOPIC_ID = uuid.UUID(int=42)
NOW_MS = 1_700_000_000_000


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[list[PartitionLog]]:
    made: list[PartitionLog] = []
    yield made
    for partition_log in made:
        partition_log.close()


def new_log(root: Path, logs: list[PartitionLog], **config: int) -> PartitionLog:
    partition_log = PartitionLog.create(root, "t", len(logs), TOPIC_ID, LogConfig(**config))
    logs.append(partition_log)
    return partition_log


def append(replica: Replica, acks: int = 1) -> int:
    batch = make_batch([b"v"])

    return replica.append(batch, validate_produced(batch), NOW_MS, acks)


def test_alone_in_its_isr_the_high_watermark_is_the_log_end(tmp_path, logs) -> None:
    replica = Replica("t", 0, new_log(tmp_path, logs), 0)
    assert append(replica) == 0 and append(replica) == 1
    assert replica.high_watermark == replica.log_end_offset == 2


def test_the_high_watermark_is_the_lowest_log_end_over_the_isr_and_never_goes_back(
    tmp_path, logs
) -> None:
    replica = Replica("t", 0, new_log(tmp_path, logs), 0, node_id=1)
    replica.become_leader(1, frozenset({1, 2, 3}))
    for _ in range(3):
        append(replica, acks=-1)
    assert replica.high_watermark == 0  # the followers have nothing yet
    replica.update_follower(2, 2)
    assert replica.high_watermark == 0
    replica.update_follower(3, 1)
    assert replica.high_watermark == 1
    replica.update_follower(3, 3)
    assert replica.high_watermark == 2
    replica.update_follower(2, 1)  # a stale report must not move it back
    assert replica.high_watermark == 2
    replica.become_leader(1, frozenset({1, 3}))  # 2 left the ISR: 1 and 3 hold all three
    assert replica.high_watermark == 3


def test_consumers_read_only_below_the_high_watermark(tmp_path, logs) -> None:
    replica = Replica("t", 0, new_log(tmp_path, logs), 0, node_id=1, isr=frozenset({1, 2}))
    append(replica)
    assert replica.read(0, 1 << 20) is None  # appended, not yet replicated
    replica.update_follower(2, 1)
    assert replica.read(0, 1 << 20) is not None
    with pytest.raises(OffsetOutOfRange):
        replica.read(5, 1 << 20)


def test_the_high_watermark_is_seeded_from_the_checkpoint_within_the_log(tmp_path, logs) -> None:
    partition_log = new_log(tmp_path, logs)
    writer = Replica("t", 0, partition_log, 0)
    for _ in range(3):
        append(writer)
    isr = frozenset({0, 1})  # a follower we have not heard from yet
    assert Replica("t", 0, partition_log, 0, isr=isr, high_watermark=2).high_watermark == 2
    assert Replica("t", 0, partition_log, 0, isr=isr, high_watermark=9).high_watermark == 3


def test_acks_all_is_refused_before_appending_when_the_isr_is_below_min_insync(
    tmp_path, logs
) -> None:
    replica = Replica("t", 0, new_log(tmp_path, logs, min_insync_replicas=2), 0)
    with pytest.raises(ReplicaError) as refused:
        append(replica, acks=-1)
    assert refused.value.code == ErrorCode.not_enough_replicas
    assert "min.insync.replicas=2" in str(refused.value)
    assert replica.log_end_offset == 0  # nothing appended
    assert append(replica, acks=1) == 0  # acks=1 does not wait for the ISR
    replica.become_leader(0, frozenset({0, 1}))
    assert append(replica, acks=-1) == 1


def test_leader_epochs_are_fenced_and_followers_refuse(tmp_path, logs) -> None:
    replica = Replica("t", 0, new_log(tmp_path, logs), 0)
    replica.become_leader(3, frozenset({0}))
    assert replica.check_leader(-1) is None and replica.check_leader(3) is None
    assert replica.check_leader(2) == ErrorCode.fenced_leader_epoch
    assert replica.check_leader(4) == ErrorCode.unknown_leader_epoch
    assert append(replica) == 0
    assert replica.end_offset_for_epoch(3) == (3, 1)
    replica.become_follower(1, 4)
    assert replica.check_leader(4) == ErrorCode.not_leader_or_follower
    with pytest.raises(ReplicaError) as refused:
        append(replica)
    assert refused.value.code == ErrorCode.not_leader_or_follower
