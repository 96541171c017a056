"""AlterPartition: ISR changes validated as Kafka's controller validates them."""

from __future__ import annotations

import uuid

import pytest
from kio.schema.errors import ErrorCode

from broker.controller.isr import IsrChange, alter_partition
from tests.unit.controller.harness import Harness


@pytest.fixture
def h() -> Harness:
    h = Harness()
    h.start(4)
    h.create("tweets", assignments={0: (0, 1, 2)})
    return h


def change(h: Harness, new_isr: tuple[int, ...], *, leader_epoch=0, partition_epoch=0) -> IsrChange:
    topic_id = h.image.topics["tweets"].topic_id
    return IsrChange(topic_id, 0, leader_epoch, partition_epoch, new_isr)


def send(h: Harness, broker_id: int, *changes: IsrChange, epoch: int | None = None):
    broker_epoch = h.image.brokers[broker_id].epoch if epoch is None else epoch
    return alter_partition(h.image, broker_id, broker_epoch, list(changes))


def test_the_leader_shrinks_and_expands_the_isr_bumping_only_the_partition_epoch(
    h: Harness,
) -> None:
    answer = h.commit(send(h, 0, change(h, (0, 2))))
    (shrunk,) = answer.partitions
    assert shrunk.error_code == ErrorCode.none
    assert (shrunk.isr, shrunk.leader_id, shrunk.leader_epoch, shrunk.partition_epoch) == (
        (0, 2),
        0,
        0,
        1,
    )
    assert h.partition("tweets").isr == (0, 2)
    (grown,) = h.commit(send(h, 0, change(h, (0, 2, 1), partition_epoch=1))).partitions
    assert grown.error_code == ErrorCode.none and grown.partition_epoch == 2
    assert h.partition("tweets").isr == (0, 2, 1)


@pytest.mark.parametrize(
    ("sender", "new_isr", "epochs", "error"),
    [
        (0, (0, 1), (1, 0), ErrorCode.not_controller),  # leader epoch ahead of ours
        (0, (0, 1), (0, 1), ErrorCode.not_controller),  # partition epoch ahead
        (1, (1, 2), (0, 0), ErrorCode.invalid_request),  # not the leader
        (0, (0, 3), (0, 0), ErrorCode.invalid_request),  # 3 is not a replica
        (0, (1, 2), (0, 0), ErrorCode.invalid_request),  # leaves the leader out
        (0, (0, 0), (0, 0), ErrorCode.invalid_request),  # a broker twice
    ],
)
def test_bad_changes_are_refused_and_change_nothing(
    h: Harness, sender: int, new_isr: tuple, epochs: tuple, error: ErrorCode
) -> None:
    before = h.image
    result = send(h, sender, change(h, new_isr, leader_epoch=epochs[0], partition_epoch=epochs[1]))
    assert result.answer.partitions[0].error_code == error
    assert result.records == () and h.image is before


def test_stale_epochs_are_fenced(h: Harness) -> None:
    h.commit(send(h, 0, change(h, (0, 1))))  # partition epoch 1 now
    stale = send(h, 0, change(h, (0,), partition_epoch=0))
    assert stale.answer.partitions[0].error_code == ErrorCode.invalid_update_version
    h.heartbeat(0, want_shut_down=True)  # leadership moves to 1: leader epoch 1
    h.register(0, h.incarnations[0])
    h.heartbeat(0)
    p = h.partition("tweets")
    assert p.leader == 1 and p.leader_epoch == 1
    old_leader_view = send(
        h, 1, change(h, (1, 0), leader_epoch=0, partition_epoch=p.partition_epoch)
    )
    assert old_leader_view.answer.partitions[0].error_code == ErrorCode.fenced_leader_epoch


def test_a_fenced_or_shutting_down_broker_may_not_join_the_isr(h: Harness) -> None:
    h.commit(send(h, 0, change(h, (0,))))
    h.heartbeat(2, want_fence=True)
    refused = send(h, 0, change(h, (0, 2), partition_epoch=1))
    assert refused.answer.partitions[0].error_code == ErrorCode.ineligible_replica
    assert refused.records == ()
    h.heartbeat(1, want_shut_down=True)  # leads nothing: fenced at once
    refused = send(h, 0, change(h, (0, 1), partition_epoch=1))
    assert refused.answer.partitions[0].error_code == ErrorCode.ineligible_replica


def test_fencing_removes_the_follower_and_a_shrink_beside_a_fenced_broker_is_fine(
    h: Harness,
) -> None:
    h.heartbeat(2, want_fence=True)  # the controller takes a fenced follower out itself
    assert h.partition("tweets").isr == (0, 1)
    p = h.partition("tweets")
    (shrunk,) = h.commit(send(h, 0, change(h, (0,), partition_epoch=p.partition_epoch))).partitions
    assert shrunk.error_code == ErrorCode.none and h.partition("tweets").isr == (0,)


def test_a_sender_with_an_old_broker_epoch_or_an_unknown_partition(h: Harness) -> None:
    stale = send(h, 0, change(h, (0,)), epoch=12345)
    assert stale.answer.error_code == ErrorCode.stale_broker_epoch and stale.records == ()
    topic_id = h.image.topics["tweets"].topic_id
    unknown = send(
        h,
        0,
        IsrChange(uuid.UUID(int=1), 0, 0, 0, (0,)),
        IsrChange(topic_id, 9, 0, 0, (0,)),
    )
    assert [p.error_code for p in unknown.answer.partitions] == [
        ErrorCode.unknown_topic_id,
        ErrorCode.unknown_topic_or_partition,
    ]


def test_two_changes_to_one_partition_in_one_request_are_taken_in_order(h: Harness) -> None:
    first = change(h, (0, 1))
    second = change(h, (0,))  # made against the same epoch as the first: stale once it lands
    result = send(h, 0, first, second)
    codes = [p.error_code for p in result.answer.partitions]
    assert codes == [ErrorCode.none, ErrorCode.invalid_update_version]
    h.commit(result)
    assert h.partition("tweets").isr == (0, 1)


def test_a_replica_seen_at_an_earlier_broker_epoch_may_not_join_the_isr(h: Harness) -> None:
    old_epoch = h.image.brokers[1].epoch
    h.register(1, h.incarnations[1])  # broker 1 restarted: a new epoch, out of the ISR
    h.heartbeat(1)
    partition = h.partition("tweets")
    assert partition.isr == (0, 2)
    epochs = {b: h.image.brokers[b].epoch for b in (0, 2)}

    def expand(epoch_of_1: int) -> IsrChange:
        return IsrChange(
            h.image.topics["tweets"].topic_id,
            0,
            partition.leader_epoch,
            partition.partition_epoch,
            (0, 2, 1),
            (epochs[0], epochs[2], epoch_of_1),
        )

    (stale,) = h.commit(send(h, 0, expand(old_epoch))).partitions
    assert stale.error_code == ErrorCode.ineligible_replica
    assert h.partition("tweets").isr == (0, 2)
    (current,) = h.commit(send(h, 0, expand(h.image.brokers[1].epoch))).partitions
    assert current.error_code == ErrorCode.none and h.partition("tweets").isr == (0, 2, 1)
