"""The store keeps what the Cluster page shows: broker states and the active controller,
leader epochs and offline replicas, the quorum, and the events; and a store written by an
older dashboard (without those columns) is upgraded in place, its history kept."""

from __future__ import annotations

import sqlite3

from dashboard.rows import (
    BrokerRow,
    ClusterSample,
    EventRow,
    PartitionRow,
    QuorumReplica,
    QuorumRow,
)
from dashboard.store import Store


def cluster_sample(ts_ms: int) -> ClusterSample:
    return ClusterSample(
        ts_ms,
        brokers=[
            BrokerRow(0, "127.0.0.1", 9092, state="running", controller=True),
            BrokerRow(1, "127.0.0.1", 9093, up=False, state="paused"),
            BrokerRow(2, "127.0.0.1", 9094, up=False),  # seen earlier, no probe
        ],
        partitions=[
            PartitionRow("tweets", 0, 0, [1, 0, 2], [0, 2], 3, 40, leader_epoch=7, offline=[1]),
            PartitionRow("tweets", 1, -1, [1], [1], 0, 5, leader_epoch=2, offline=[1]),
        ],
        quorum=QuorumRow(
            0,
            9,
            120,
            [
                QuorumReplica(0, "leader", 120, 0, ts_ms, ts_ms),
                QuorumReplica(3, "observer", 117, 3, ts_ms - 100, None),
                QuorumReplica(1, "voter", 110, 10, None, None),
            ],
        ),
        events=[
            EventRow(ts_ms, "leader_election", "Leader of tweets-0: 1 → 0", "tweets", 0, 0),
            EventRow(ts_ms, "isr_shrink", "ISR of tweets-0 shrank", "tweets", 0, 1),
        ],
    )


def test_the_cluster_view_reads_back(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.write_sample(cluster_sample(1000))
    brokers = store.cluster_brokers()
    assert brokers[["node_id", "state", "controller"]].values.tolist() == [
        [0, "running", True],
        [1, "paused", False],
        [2, "stopped", False],
    ]
    parts = store.cluster_partitions("tweets")
    assert parts["leader_epoch"].tolist() == [7, 2]
    assert parts["replicas"].tolist() == [[1, 0, 2], [1]]
    assert parts["isr"].tolist() == [[0, 2], [1]]
    assert parts["offline"].tolist() == [[1], [1]]
    assert store.quorum() == {"leader_id": 0, "leader_epoch": 9, "high_watermark": 120}
    replicas = store.quorum_replicas()
    assert replicas[["replica_id", "role", "lag"]].values.tolist() == [
        [0, "leader", 0],
        [1, "voter", 10],
        [3, "observer", 3],
    ]
    events = store.events()
    assert events["kind"].tolist() == ["isr_shrink", "leader_election"]  # newest first
    counts = store.event_counts(since_ms=0)
    assert counts["leader_election"] == 1 and counts["isr_shrink"] == 1
    assert counts["isr_expand"] == 0
    assert store.event_counts(since_ms=1001)["leader_election"] == 0


def test_a_sample_without_a_quorum_shows_none(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    with_quorum = cluster_sample(1000)
    store.write_sample(with_quorum)
    store.write_sample(ClusterSample(2000, brokers=with_quorum.brokers))
    assert store.quorum() is None
    assert store.quorum_replicas().empty


def test_an_older_store_gains_the_new_columns_and_keeps_its_history(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE samples (ts_ms INTEGER PRIMARY KEY, took_ms REAL);
        CREATE TABLE brokers (ts_ms INTEGER, node_id INTEGER, host TEXT, port INTEGER,
            up INTEGER, PRIMARY KEY (ts_ms, node_id)) WITHOUT ROWID;
        CREATE TABLE partitions (ts_ms INTEGER, topic TEXT, partition INTEGER,
            leader INTEGER, replicas TEXT, isr TEXT, log_start INTEGER,
            high_watermark INTEGER, PRIMARY KEY (topic, partition, ts_ms)) WITHOUT ROWID;
        INSERT INTO samples VALUES (500, 1.0);
        INSERT INTO brokers VALUES (500, 0, '127.0.0.1', 9092, 1);
        INSERT INTO partitions VALUES (500, 'tweets', 0, 0, '0', '0', 0, 12);
        """
    )
    db.commit()
    db.close()
    store = Store(path)
    assert store.partition_table("tweets")["high_watermark"].tolist() == [12]
    assert store.cluster_partitions("tweets")["leader_epoch"].isna().all()
    store.write_sample(cluster_sample(1000))
    assert store.cluster_partitions("tweets")["leader_epoch"].tolist() == [7, 2]
