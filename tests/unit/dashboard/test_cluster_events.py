"""The event timeline is derived by comparing two samples: each kind of change gives one
event saying what changed, and a sample like the one before gives none."""

from __future__ import annotations

from dataclasses import replace

from dashboard.cluster_events import diff
from dashboard.rows import BrokerRow, ClusterSample, GroupRow, PartitionRow, QuorumRow


def sample(ts_ms: int, **changes) -> ClusterSample:
    base = ClusterSample(
        ts_ms,
        brokers=[
            BrokerRow(0, "127.0.0.1", 9092, state="running", controller=True),
            BrokerRow(1, "127.0.0.1", 9093, state="running"),
            BrokerRow(2, "127.0.0.1", 9094, state="running"),
        ],
        partitions=[
            PartitionRow("tweets", 0, 1, [1, 2, 0], [1, 2, 0], 0, 10, leader_epoch=4),
            PartitionRow("tweets", 1, 2, [2, 0, 1], [2, 0, 1], 0, 10, leader_epoch=0),
        ],
        groups=[GroupRow("analytics", "Stable", "consumer", "range", 2, 3)],
        quorum=QuorumRow(0, 5, 100, []),
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_the_first_sample_and_an_unchanged_one_give_no_events():
    assert diff(None, sample(1)) == []
    assert diff(sample(1), sample(2)) == []


def test_a_failover_gives_the_election_the_isr_shrink_and_the_broker_state():
    before = sample(1)
    after = sample(
        2,
        brokers=[
            replace(before.brokers[0]),
            replace(before.brokers[1], state="stopped", up=False),
            replace(before.brokers[2]),
        ],
        partitions=[
            PartitionRow("tweets", 0, 2, [1, 2, 0], [2, 0], 0, 10, leader_epoch=5),
            before.partitions[1],
        ],
    )
    events = {e.kind: e for e in diff(before, after)}
    assert set(events) == {"leader_election", "isr_shrink", "broker_state"}
    election = events["leader_election"]
    assert (election.topic, election.partition, election.node_id) == ("tweets", 0, 2)
    assert election.text == "Leader of tweets-0: 1 → 2 (epoch 4 → 5)"
    assert events["isr_shrink"].text == "ISR of tweets-0 shrank: [1,2,0] → [2,0]"
    assert events["isr_shrink"].node_id == 1
    assert events["broker_state"].text == "Broker 1: running → stopped"


def test_a_restarted_replica_rejoining_is_an_isr_expand():
    before = sample(1, partitions=[PartitionRow("tweets", 0, 2, [1, 2, 0], [2, 0], 0, 9)])
    after = sample(2, partitions=[PartitionRow("tweets", 0, 2, [1, 2, 0], [2, 0, 1], 0, 9)])
    (event,) = diff(before, after)
    assert (event.kind, event.node_id) == ("isr_expand", 1)
    assert event.text == "ISR of tweets-0 expanded: [2,0] → [2,0,1]"


def test_a_partition_losing_its_last_leader_is_shown_offline():
    before = sample(1, partitions=[PartitionRow("t", 0, 2, [2], [2], 0, 9, leader_epoch=1)])
    after = sample(2, partitions=[PartitionRow("t", 0, -1, [2], [2], 0, 9, leader_epoch=2)])
    (event,) = diff(before, after)
    assert event.text == "Leader of t-0: 2 → none (offline) (epoch 1 → 2)"


def test_a_new_epoch_with_the_same_leader_is_an_election():
    """A preferred election back to the same broker, or a leader re-elected after a
    controlled shutdown was cancelled, still bumps the epoch: clients see a new term."""
    before = sample(1)
    after = sample(
        2, partitions=[replace(before.partitions[0], leader_epoch=6), *before.partitions[1:]]
    )
    (event,) = diff(before, after)
    assert event.text == "Leader of tweets-0: 1 → 1 (epoch 4 → 6)"


def test_controller_change_and_rebalance():
    before = sample(1)
    after = sample(
        2,
        brokers=[
            replace(before.brokers[0], controller=False, state="stopped"),
            replace(before.brokers[1], controller=True),
            before.brokers[2],
        ],
        quorum=QuorumRow(1, 6, 120, []),
        groups=[GroupRow("analytics", "Stable", "consumer", "range", 1, 4)],
    )
    texts = {e.kind: e.text for e in diff(before, after)}
    assert texts["controller_change"] == "Active controller: 0 → 1 (quorum epoch 6)"
    assert texts["rebalance"] == "Group analytics rebalanced: generation 3 → 4 (1 members)"
    assert texts["broker_state"] == "Broker 0: running → stopped"
