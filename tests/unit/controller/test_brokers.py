"""Registration, leases on a manual clock, fencing, unfencing on catch-up, controlled shutdown."""

from __future__ import annotations

import uuid

from kio.schema.errors import ErrorCode

from broker.controller.brokers import DEFAULT_SESSION_TIMEOUT_MS
from broker.metadata.records import PartitionRecord, TopicRecord
from tests.unit.controller.harness import Harness


def test_a_broker_registers_fenced_with_the_offset_of_its_record_as_epoch() -> None:
    h = Harness()
    h.register(0)
    answer = h.register(1)
    assert answer.error_code == ErrorCode.none and answer.broker_epoch == 1
    broker = h.image.brokers[1]
    assert broker.fenced and broker.epoch == 1


def test_a_broker_is_unfenced_only_once_it_has_caught_up_to_its_registration() -> None:
    h = Harness()
    h.register(0)
    lagging = h.heartbeat(0, caught_up=False)
    assert lagging.is_fenced and not lagging.is_caught_up
    assert h.image.brokers[0].fenced
    caught_up = h.heartbeat(0)
    assert caught_up.is_caught_up and not caught_up.is_fenced
    assert not h.image.brokers[0].fenced


def test_a_silent_broker_is_fenced_after_the_session_timeout_and_not_before() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", 2, 2)
    assert h.advance(DEFAULT_SESSION_TIMEOUT_MS - 1000) == []
    h.heartbeat(0)  # 0 keeps its lease, 1 does not
    assert h.advance(1000) == []  # exactly the timeout: still alive
    assert h.advance(1) == [1]
    assert h.image.brokers[1].fenced and not h.image.brokers[0].fenced
    for index in range(2):
        partition = h.partition("tweets", index)
        assert partition.leader == 0 and partition.isr == (0,)


def test_a_heartbeat_from_an_old_epoch_or_an_unknown_broker_is_refused() -> None:
    h = Harness()
    h.start(1)
    assert h.heartbeat(0, epoch=99).error_code == ErrorCode.stale_broker_epoch
    assert h.heartbeat(5, epoch=0).error_code == ErrorCode.broker_id_not_registered


def test_another_incarnation_is_refused_while_the_lease_lives_and_accepted_after() -> None:
    h = Harness()
    h.start(1)
    other = uuid.UUID(int=42)
    assert h.register(0, other).error_code == ErrorCode.duplicate_broker_registration
    h.advance(DEFAULT_SESSION_TIMEOUT_MS + 1)
    answer = h.register(0, other)
    assert answer.error_code == ErrorCode.none
    assert h.image.brokers[0].incarnation_id == other and h.image.brokers[0].fenced


def test_a_first_registration_leaves_the_partitions_that_already_name_the_broker() -> None:
    # A single node reloads its stored topics (led by itself) and only then registers.
    h = Harness()
    topic_id = uuid.uuid4()
    h.image = h.image.apply_all(
        [TopicRecord("tweets", topic_id), PartitionRecord(0, topic_id, (0,), (0,), 0)]
    )
    before = h.partition("tweets")
    h.register(0)
    assert h.image.brokers[0].fenced and h.partition("tweets") == before
    h.heartbeat(0)
    assert not h.image.brokers[0].fenced and h.partition("tweets") == before


def test_a_restart_under_the_same_incarnation_reregisters_and_leaves_its_isrs() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", assignments={0: (0, 1)})
    before = h.partition("tweets")
    h.register(0, h.incarnations[0])
    after = h.partition("tweets")
    assert h.image.brokers[0].fenced
    assert after.leader == 1 and after.isr == (1,)
    assert after.leader_epoch == before.leader_epoch + 1


def test_controlled_shutdown_moves_leaderships_first_then_fences() -> None:
    h = Harness()
    h.start(3)
    h.create("tweets", assignments={0: (0, 1, 2), 1: (1, 0, 2), 2: (2, 1, 0)})
    first = h.heartbeat(0, want_shut_down=True)
    assert not first.should_shut_down and not first.is_fenced
    broker = h.image.brokers[0]
    assert broker.in_controlled_shutdown and not broker.fenced
    for index in range(3):
        partition = h.partition("tweets", index)
        assert partition.leader != 0 and 0 not in partition.isr
    assert h.partition("tweets", 0).leader == 1
    # Where 0 only followed, the leader stays but its epoch moves on all the same.
    follower_of_1 = h.partition("tweets", 1)
    assert follower_of_1.leader == 1 and follower_of_1.leader_epoch == 1
    # The others have not yet said they applied the move: keep waiting.
    assert not h.heartbeat(0, want_shut_down=True).should_shut_down
    h.heartbeat(1)
    h.heartbeat(2)
    done = h.heartbeat(0, want_shut_down=True)
    assert done.should_shut_down and done.is_fenced
    assert h.image.brokers[0].fenced


def test_a_broker_that_leads_nothing_shuts_down_at_once() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", assignments={0: (0, 1)})
    answer = h.heartbeat(1, want_shut_down=True)
    assert answer.should_shut_down and h.image.brokers[1].fenced
    assert h.partition("tweets").isr == (0,)


def test_a_broker_asking_to_be_fenced_and_to_shut_down_stops_at_once() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", assignments={0: (0, 1)})
    answer = h.heartbeat(0, want_fence=True, want_shut_down=True)
    assert answer.is_fenced and answer.should_shut_down
    assert h.partition("tweets").leader == 1
