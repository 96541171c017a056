"""The Cluster page under AppTest on a prepared store: a 3-broker cluster in which broker 1
(the leader of tweets-0) was killed: its replicas are offline, broker 2 leads in a new
epoch, the ISR shrank, and partition 2 (whose only replica was on broker 1) is offline.
The assertions are on the counters, the grid's cells, the tables and the timeline."""

from __future__ import annotations

import time

import pytest

from dashboard.cluster_events import diff
from dashboard.rows import BrokerRow, ClusterSample, PartitionRow, QuorumReplica, QuorumRow
from dashboard.store import Store
from dashboard.ui import RUN_FILE_ENV, STORE_ENV
from tests.dashboard.test_pages import chart, metrics, run

NOW = time.time_ns() // 1_000_000


def brokers(one: str) -> list[BrokerRow]:
    return [
        BrokerRow(0, "127.0.0.1", 9092, state="running", controller=True),
        BrokerRow(1, "127.0.0.1", 9093, up=one == "running", state=one),
        BrokerRow(2, "127.0.0.1", 9094, state="running"),
    ]


QUORUM = QuorumRow(
    0,
    3,
    250,
    [
        QuorumReplica(0, "leader", 250, 0, NOW, NOW),
        QuorumReplica(1, "observer", 240, 10, NOW - 9000, NOW - 9000),
        QuorumReplica(2, "observer", 250, 0, NOW, NOW),
    ],
)


def killed(ts_ms: int, other_epoch: int = 0) -> ClusterSample:
    """The cluster after broker 1's death (``other-0``, untouched, at ``other_epoch``)."""
    return ClusterSample(
        ts_ms,
        brokers=brokers("stopped"),
        partitions=[
            PartitionRow("tweets", 0, 2, [1, 2, 0], [2, 0], 0, 41, leader_epoch=5, offline=[1]),
            PartitionRow("tweets", 1, 2, [2, 0, 1], [2, 0], 0, 31, leader_epoch=0, offline=[1]),
            PartitionRow("tweets", 2, -1, [1], [1], 0, None, leader_epoch=1, offline=[1]),
            PartitionRow("other", 0, 0, [0], [0], 0, 5, leader_epoch=other_epoch),
        ],
        quorum=QUORUM,
    )


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    monkeypatch.setenv(RUN_FILE_ENV, str(tmp_path / "no-cluster" / "run.json"))  # no controls
    store = Store(path)
    before = ClusterSample(
        NOW - 1000,
        brokers=brokers("running"),
        partitions=[
            PartitionRow("tweets", 0, 1, [1, 2, 0], [1, 2, 0], 0, 40, leader_epoch=4),
            PartitionRow("tweets", 1, 2, [2, 0, 1], [2, 0, 1], 0, 30, leader_epoch=0),
            PartitionRow("tweets", 2, 1, [1], [1], 0, 20, leader_epoch=0),
            PartitionRow("other", 0, 0, [0], [0], 0, 5, leader_epoch=0),
        ],
        quorum=QUORUM,
    )
    after = killed(NOW)
    store.write_sample(before)
    after.events = diff(before, after)
    store.write_sample(after)
    return store


def test_cluster_page_counters(store):
    app = run("cluster.py")
    shown = metrics(app)
    assert shown["Under-replicated partitions"] == "2"  # tweets-0 and tweets-1
    assert shown["Offline partitions"] == "1"  # tweets-2
    assert shown["Active controller count"] == "1"
    assert shown["ISR shrinks /min"] == "2"
    assert shown["ISR expands /min"] == "0"
    assert shown["Leader elections /min"] == "2"  # tweets-0 to broker 2, tweets-2 offline


def test_cluster_page_draws_each_replica_by_role(store):
    app = run("cluster.py")
    spec, cells = chart(app, 0)
    roles = {(int(r.partition), int(r.node_id)): r.role for r in cells.itertuples()}
    assert roles == {
        (0, 2): "leader",
        (0, 0): "in-sync",
        (0, 1): "offline",
        (1, 2): "leader",
        (1, 0): "in-sync",
        (1, 1): "offline",
        (2, 1): "offline",
    }
    texts = {(int(r.partition), int(r.node_id)): r.text for r in cells.itertuples()}
    assert texts[(0, 2)] == "leader, epoch 5"
    columns = spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
    assert columns == [
        "broker 0 ★|127.0.0.1:9092|running",
        "broker 1|127.0.0.1:9093|stopped",
        "broker 2|127.0.0.1:9094|running",
    ]


def test_cluster_page_brokers_quorum_and_timeline(store):
    app = run("cluster.py")
    table = app.dataframe[0].value
    assert table[["node_id", "state", "controller", "leaderships"]].values.tolist() == [
        [0, "running", True, 1],
        [1, "stopped", False, 0],
        [2, "running", False, 2],
    ]
    shown = metrics(app)
    assert shown["Leader (active controller)"] == "0"
    assert shown["Epoch"] == "3"
    quorum = app.dataframe[1].value
    assert quorum[["replica_id", "role", "lag"]].values.tolist() == [
        [0, "leader", 0],
        [1, "observer", 10],
        [2, "observer", 0],
    ]
    assert quorum["fetched (s ago)"].tolist() == [0.0, 9.0, 0.0]
    events = app.dataframe[2].value
    texts = set(events["text"])
    assert "Leader of tweets-0: 1 → 2 (epoch 4 → 5)" in texts
    assert "Leader of tweets-2: 1 → none (offline) (epoch 0 → 1)" in texts
    assert "ISR of tweets-0 shrank: [1,2,0] → [2,0]" in texts
    assert "Broker 1: running → stopped" in texts


def test_cluster_page_timeline_follows_the_chosen_topic(store):
    """The timeline shows the chosen topic's events and the cluster's own (brokers, the
    controller), so a broker's death in a topic with many partitions stays in view; another
    topic's events appear when that topic is picked."""
    moved = killed(NOW + 500, other_epoch=1)
    moved.events = diff(killed(NOW), moved)
    store.write_sample(moved)
    assert "Leader of other-0: 0 → 0 (epoch 0 → 1)" in set(store.events()["text"])

    app = run("cluster.py")
    texts = set(app.dataframe[2].value["text"])
    assert "Leader of tweets-0: 1 → 2 (epoch 4 → 5)" in texts
    assert "Broker 1: running → stopped" in texts
    assert not any("other-0" in text for text in texts)

    picker = next(s for s in app.selectbox if s.label == "Topic")
    picker.select("other").run()
    texts = set(app.dataframe[2].value["text"])
    assert "Leader of other-0: 0 → 0 (epoch 0 → 1)" in texts
    assert "Broker 1: running → stopped" in texts
    assert not any("tweets-" in text for text in texts)


def test_quorum_ages_are_never_negative(store):
    """The quorum leader stamps its voters' fetches when it answers DescribeQuorum, after the
    sample began: a fetch 120 ms newer than the sample is shown 0 s ago, not -0.1."""
    later = killed(NOW + 1000)
    later.quorum = QuorumRow(
        0,
        3,
        260,
        [
            QuorumReplica(0, "leader", 260, 0, NOW + 1120, NOW + 1120),
            QuorumReplica(1, "observer", 240, 20, NOW - 9000, NOW - 9000),
            QuorumReplica(2, "observer", 260, 0, NOW + 1080, NOW + 900),
        ],
    )
    store.write_sample(later)
    quorum = run("cluster.py").dataframe[1].value
    assert quorum["fetched (s ago)"].tolist() == [0.0, 10.0, 0.0]
    assert quorum["caught up (s ago)"].tolist() == [0.0, 10.0, 0.1]
