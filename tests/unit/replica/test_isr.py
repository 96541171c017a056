"""The leader's view of its followers on a manual clock: when a follower was last caught up
(Kafka's Replica.updateFetchState), who falls out of the ISR after replica.lag.time.max.ms,
who may join it, the maximal ISR while a change is pending (KIP-497), and how the
controller's answer and later images settle a proposal."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.protocol.batch import validate_produced
from broker.replica.isr import FollowerState
from broker.replica.replica import Replica
from broker.storage import LogConfig, PartitionLog
from tests.support.batches import make_batch

TOPIC_ID = uuid.UUID(int=9)
START_MS = 1_700_000_000_000
MAX_LAG_MS = 5_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_MS)


@pytest.fixture
def partition_log(tmp_path: Path) -> Iterator[PartitionLog]:
    made = PartitionLog.create(tmp_path, "t", 0, TOPIC_ID, LogConfig())
    yield made
    made.close()


def leader_of_three(
    partition_log: PartitionLog, clock: ManualClock, isr: set[int] | None = None
) -> Replica:
    """Node 1 leading replicas 1, 2, 3 at leader epoch 1, partition epoch 4."""
    replica = Replica("t", 0, partition_log, 0, node_id=1, clock=clock)
    replica.become_leader(1, frozenset(isr or {1, 2, 3}), 4, (1, 2, 3))
    return replica


def append(replica: Replica, records: int = 1) -> None:
    batch = make_batch([b"v"] * records)
    replica.append(batch, validate_produced(batch), START_MS)


def test_a_fetch_at_the_leaders_end_is_caught_up_then_and_one_at_its_previous_end_is_too() -> None:
    follower = FollowerState()
    follower.record_fetch(5, 5, now_ms=1_000)
    assert follower.last_caught_up_ms == 1_000
    follower.record_fetch(5, 8, now_ms=2_000)  # the leader appended meanwhile
    assert follower.last_caught_up_ms == 1_000
    follower.record_fetch(8, 10, now_ms=3_000)  # reached where the leader was at 2_000
    assert follower.last_caught_up_ms == 2_000
    follower.record_fetch(9, 12, now_ms=4_000)  # short of 10: not caught up at 3_000
    assert follower.last_caught_up_ms == 2_000
    assert follower.caught_up(12, now_ms=2_000 + MAX_LAG_MS, max_lag_ms=MAX_LAG_MS)
    assert not follower.caught_up(12, now_ms=2_001 + MAX_LAG_MS, max_lag_ms=MAX_LAG_MS)
    assert follower.caught_up(9, now_ms=10**9, max_lag_ms=MAX_LAG_MS)  # holds all there is


def test_isr_members_not_caught_up_within_the_lag_are_shrink_candidates(
    partition_log, clock
) -> None:
    replica = leader_of_three(partition_log, clock)
    append(replica, 3)
    clock.advance(1_000)
    replica.update_follower(2, 3)  # caught up at 1_000
    replica.update_follower(3, 1)  # behind; last caught up when the epoch began, at 0
    append(replica)  # neither holds everything now
    clock.advance(MAX_LAG_MS)
    assert replica.shrink_candidates(MAX_LAG_MS) == {3}
    clock.advance(1)
    assert replica.shrink_candidates(MAX_LAG_MS) == {2, 3}
    replica.update_follower(2, 4)
    replica.update_follower(3, 4)
    assert replica.shrink_candidates(MAX_LAG_MS) == set()


def test_an_idle_partition_keeps_followers_that_hold_everything(partition_log, clock) -> None:
    replica = leader_of_three(partition_log, clock)
    append(replica)
    replica.update_follower(2, 1)
    replica.update_follower(3, 1)
    clock.advance(10 * MAX_LAG_MS)  # no fetch for a long time, and nothing new to fetch
    assert replica.shrink_candidates(MAX_LAG_MS) == set()


def test_a_replica_joins_once_it_reaches_the_high_watermark_and_the_epoch_start(
    partition_log, clock
) -> None:
    append(Replica("t", 0, partition_log, 0, node_id=1, clock=clock), 2)  # epoch 0: 0..1
    replica = leader_of_three(partition_log, clock, isr={1, 2})  # epoch 1 starts at 2
    append(replica, 2)
    replica.update_follower(2, 4)
    assert replica.high_watermark == 4
    replica.update_follower(3, 3)
    assert replica.expand_candidates() == set()  # below the high watermark
    replica.update_follower(3, 4)
    assert replica.expand_candidates() == {3}
    assert replica.leader_epoch_start_offset == 2


def test_a_pending_shrink_holds_the_high_watermark_until_the_controller_accepts(
    partition_log, clock
) -> None:
    replica = leader_of_three(partition_log, clock)
    append(replica, 2)
    replica.update_follower(2, 2)
    assert replica.high_watermark == 0  # 3 has nothing
    pending = replica.propose_isr({1, 2})
    assert replica.maximal_isr == {1, 2, 3}
    assert replica.high_watermark == 0
    assert replica.shrink_candidates(0) == set()  # one change at a time
    assert replica.isr_accepted(pending, 1, (1, 2), 5)
    assert (replica.isr, replica.partition_epoch, replica.pending_isr) == ({1, 2}, 5, None)
    assert replica.high_watermark == 2


def test_a_pending_expansion_counts_the_joining_replica_at_once(partition_log, clock) -> None:
    replica = leader_of_three(partition_log, clock, isr={1, 2})
    append(replica, 2)
    replica.update_follower(2, 2)
    replica.update_follower(3, 2)
    replica.propose_isr({1, 2, 3})
    assert replica.maximal_isr == {1, 2, 3}
    append(replica)
    replica.update_follower(2, 3)
    assert replica.high_watermark == 2  # 3 must have offset 2 before it counts as committed


def test_a_refused_expansion_stops_holding_the_high_watermark(partition_log, clock) -> None:
    replica = leader_of_three(partition_log, clock, isr={1, 2})
    append(replica, 2)
    replica.update_follower(2, 2)
    replica.update_follower(3, 2)
    pending = replica.propose_isr({1, 2, 3})
    append(replica)
    replica.update_follower(2, 3)
    assert replica.high_watermark == 2
    assert replica.isr_refused(pending, ErrorCode.ineligible_replica) is False
    assert replica.high_watermark == 3


def test_an_answer_for_a_proposal_the_partition_moved_past_is_ignored(partition_log, clock) -> None:
    replica = leader_of_three(partition_log, clock)
    pending = replica.propose_isr({1, 2})
    replica.become_leader(2, frozenset({1, 2, 3}), 6, (1, 2, 3))  # a newer image
    assert replica.pending_isr is None
    assert not replica.isr_accepted(pending, 1, (1, 2), 5)
    assert replica.isr == {1, 2, 3}
    pending = replica.propose_isr({1, 2})
    assert not replica.isr_accepted(pending, 1, (1, 2), 7)  # an answer at another leader epoch
    assert not replica.isr_accepted(pending, 2, (1, 2), 5)  # older than what we hold
    assert replica.pending_isr is pending and replica.isr == {1, 2, 3}


def test_an_image_older_than_the_accepted_answer_is_skipped(partition_log, clock) -> None:
    replica = leader_of_three(partition_log, clock)
    assert replica.isr_accepted(replica.propose_isr({1, 2}), 1, (1, 2), 5)
    replica.become_leader(1, frozenset({1, 2, 3}), 4, (1, 2, 3))  # the image before it
    assert (replica.isr, replica.partition_epoch) == ({1, 2}, 5)
    replica.become_leader(1, frozenset({1, 2}), 5, (1, 2, 3))  # the image that carries it
    assert (replica.isr, replica.partition_epoch) == ({1, 2}, 5)


@pytest.mark.parametrize(
    ("error", "retry", "still_pending"),
    [
        (ErrorCode.ineligible_replica, False, False),
        (ErrorCode.operation_not_attempted, False, False),
        (ErrorCode.invalid_update_version, False, True),
        (ErrorCode.fenced_leader_epoch, False, True),
        (ErrorCode.unknown_topic_or_partition, False, True),
        (ErrorCode.not_controller, True, True),
        (ErrorCode.unknown_server_error, True, True),
    ],
)
def test_refusals_as_kafka_handles_them(partition_log, clock, error, retry, still_pending) -> None:
    replica = leader_of_three(partition_log, clock)
    pending = replica.propose_isr({1, 2})
    assert replica.isr_refused(pending, error) is retry
    assert (replica.pending_isr is pending) is still_pending
    assert replica.isr == {1, 2, 3}


def test_a_new_leader_epoch_restarts_the_followers_lag_clock(partition_log, clock) -> None:
    replica = leader_of_three(partition_log, clock)
    append(replica)
    clock.advance(MAX_LAG_MS + 1)
    assert replica.shrink_candidates(MAX_LAG_MS) == {2, 3}
    replica.become_leader(2, frozenset({1, 2, 3}), 5, (1, 2, 3))
    assert replica.shrink_candidates(MAX_LAG_MS) == set()
