"""Leader election from the ISR: clean, offline, unclean, preferred."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from broker.controller.brokers import DEFAULT_SESSION_TIMEOUT_MS
from broker.controller.elections import ElectionType, elect_leaders, rebalance_preferred
from broker.controller.isr import IsrChange, alter_partition
from broker.controller.partition_change import unclean_election_enabled
from broker.metadata.records import (
    NO_LEADER,
    ConfigRecord,
    ConfigResourceType,
    PartitionChangeRecord,
)
from tests.unit.controller.harness import Harness


def lose(h: Harness, broker_id: int) -> None:
    """Every broker but ``broker_id`` heartbeats through a session timeout."""
    for _ in range(2):
        h.now_ms += DEFAULT_SESSION_TIMEOUT_MS // 2 + 1
        for other in h.image.brokers:
            if other != broker_id and not h.image.brokers[other].fenced:
                h.heartbeat(other)
        h.advance(0)
    assert h.image.brokers[broker_id].fenced


def test_a_fenced_leader_is_replaced_by_the_next_isr_member_with_both_epochs_bumped() -> None:
    h = Harness()
    h.start(3)
    h.create("tweets", assignments={0: (0, 1, 2)})
    lose(h, 0)
    p = h.partition("tweets")
    assert p.leader == 1 and p.isr == (1, 2)
    assert (p.leader_epoch, p.partition_epoch) == (1, 1)


def test_with_no_eligible_isr_member_the_partition_goes_offline_until_one_returns() -> None:
    h = Harness()
    h.start(3)
    h.create("tweets", assignments={0: (0, 1, 2)})
    lose(h, 1)
    lose(h, 2)
    lose(h, 0)
    p = h.partition("tweets")
    assert p.leader == NO_LEADER and p.isr == (0,)  # the last ISR member stays in it
    # Broker 1 comes back: it is not in the ISR, so it may not lead (no unclean election).
    h.register(1, h.incarnations[1])
    h.heartbeat(1)
    assert h.partition("tweets").leader == NO_LEADER
    # Broker 0, the last in-sync replica, comes back and leads again.
    h.register(0, h.incarnations[0])
    h.heartbeat(0)
    p = h.partition("tweets")
    assert p.leader == 0 and p.isr == (0,)
    # Two leader changes (0 -> none -> 0) in four partition changes (ISR drops 1, then 2).
    assert (p.leader_epoch, p.partition_epoch) == (2, 4)


def test_unclean_election_when_the_topic_enables_it() -> None:
    h = Harness()
    h.start(2)
    h.create(
        "tweets",
        assignments={0: (0, 1)},
        configs={"unclean.leader.election.enable": "true"},
    )
    lose(h, 1)
    lose(h, 0)
    assert h.partition("tweets").leader == NO_LEADER
    h.register(1, h.incarnations[1])
    h.heartbeat(1)
    p = h.partition("tweets")
    assert p.leader == 1 and p.isr == (1,)


def test_unclean_election_is_the_topics_then_the_cluster_wide_dynamic_then_the_static() -> None:
    h = Harness()
    h.start(1)
    h.create("t", assignments={0: (0,)})
    h.create("u", assignments={0: (0,)}, configs={"unclean.leader.election.enable": "false"})
    assert [unclean_election_enabled(h.image, "t", static) for static in (False, True)] == [
        False,
        True,
    ]
    dynamic = ConfigRecord(ConfigResourceType.BROKER, "", "unclean.leader.election.enable", "true")
    image = h.image.apply(dynamic)
    assert unclean_election_enabled(image, "t", False) is True
    assert unclean_election_enabled(image, "u", True) is False


def test_a_static_unclean_election_brings_back_an_offline_partition() -> None:
    h = Harness(unclean_default=True)
    h.start(2)
    h.create("tweets", assignments={0: (0, 1)})
    lose(h, 1)
    lose(h, 0)
    assert h.partition("tweets").leader == NO_LEADER
    h.register(1, h.incarnations[1])
    h.heartbeat(1)
    p = h.partition("tweets")
    assert p.leader == 1 and p.isr == (1,)


def test_elect_leaders_unclean_brings_an_offline_partition_back() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", assignments={0: (0, 1)})
    lose(h, 1)
    lose(h, 0)
    h.register(1, h.incarnations[1])
    h.heartbeat(1)
    assert h.partition("tweets").leader == NO_LEADER
    answers = h.commit(elect_leaders(h.image, ElectionType.UNCLEAN, [("tweets", 0), ("nope", 0)]))
    assert [a.error_code for a in answers] == [
        ErrorCode.none,
        ErrorCode.unknown_topic_or_partition,
    ]
    p = h.partition("tweets")
    assert p.leader == 1 and p.isr == (1,)
    again = elect_leaders(h.image, ElectionType.UNCLEAN, [("tweets", 0)])
    assert again.records == () and again.answer[0].error_code == ErrorCode.election_not_needed


def test_elect_leaders_unclean_with_no_live_replica_says_so() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", assignments={0: (0,)})
    lose(h, 0)
    result = elect_leaders(h.image, ElectionType.UNCLEAN, [("tweets", 0)])
    assert result.records == ()
    assert result.answer[0].error_code == ErrorCode.eligible_leaders_not_available


def test_preferred_election_gives_leadership_back_once_the_preferred_is_in_sync() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", assignments={0: (0, 1)})
    lose(h, 0)
    assert h.partition("tweets").leader == 1
    h.register(0, h.incarnations[0])
    h.heartbeat(0)
    refused = elect_leaders(h.image, ElectionType.PREFERRED, [("tweets", 0)])
    assert refused.answer[0].error_code == ErrorCode.preferred_leader_not_available
    assert refused.records == ()
    assert rebalance_preferred(h.image) == []  # not in the ISR yet
    # The leader adds 0 back to the ISR once it has caught up (AlterPartition's job).
    p = h.partition("tweets")
    topic_id = h.image.topics["tweets"].topic_id
    change = IsrChange(topic_id, 0, p.leader_epoch, p.partition_epoch, (1, 0))
    h.commit(alter_partition(h.image, 1, h.image.brokers[1].epoch, [change]))
    h.create("stats", assignments={0: (1, 0)})  # led by its preferred replica already
    answers = h.commit(elect_leaders(h.image, ElectionType.PREFERRED, None))
    assert [(a.topic, a.error_code) for a in answers] == [("tweets", ErrorCode.none)]
    p = h.partition("tweets")
    assert p.leader == 0 and set(p.isr) == {0, 1}
    again = elect_leaders(h.image, ElectionType.PREFERRED, [("tweets", 0)])
    assert again.answer[0].error_code == ErrorCode.election_not_needed


def test_auto_rebalance_moves_every_partition_back_to_its_preferred_replica() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", assignments={0: (0, 1), 1: (1, 0)})
    h.heartbeat(1, want_shut_down=True)  # 1 hands partition 1 to 0, then stops
    h.heartbeat(0)
    assert h.heartbeat(1, want_shut_down=True).should_shut_down
    assert h.partition("tweets", 1).leader == 0
    h.register(1, h.incarnations[1])
    h.heartbeat(1)
    p = h.partition("tweets", 1)
    topic_id = h.image.topics["tweets"].topic_id
    change = IsrChange(topic_id, 1, p.leader_epoch, p.partition_epoch, (0, 1))
    h.commit(alter_partition(h.image, 0, h.image.brokers[0].epoch, [change]))
    records = rebalance_preferred(h.image)
    assert len(records) == 1
    h.image = h.image.apply_all(records)
    assert h.partition("tweets", 0).leader == 0 and h.partition("tweets", 1).leader == 1


def test_auto_rebalance_waits_until_a_brokers_imbalance_is_above_the_percentage() -> None:
    """Kafka's leader.imbalance.per.broker.percentage (10): broker 0 is the preferred replica
    of ten partitions; one led by broker 1 is 10 %, within it; two are 20 %, both go back."""
    h = Harness()
    h.start(2)
    h.create("tweets", assignments={i: (0, 1) for i in range(10)})
    topic_id = h.image.topics["tweets"].topic_id
    assert all(h.partition("tweets", i).leader == 0 for i in range(10))
    h.image = h.image.apply_all([PartitionChangeRecord(0, topic_id, leader=1)])
    assert rebalance_preferred(h.image, imbalance_percentage=10) == []
    h.image = h.image.apply_all([PartitionChangeRecord(1, topic_id, leader=1)])
    records = rebalance_preferred(h.image, imbalance_percentage=10)
    assert sorted(r.partition_id for r in records) == [0, 1]
    h.image = h.image.apply_all(records)
    assert all(h.partition("tweets", i).leader == 0 for i in range(10))
