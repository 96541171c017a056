"""The dashboard's collector on a real 3-node cluster: what it stores is what the cluster
answers (brokers, the active controller, leader epochs, the quorum), and a killed leader
shows up as the events a class should see: the election with its epochs, the ISR shrink,
the broker stopped; its restart as the ISR expanding again; a paused broker as paused."""

from __future__ import annotations

import pytest

from dashboard.collector import Collector
from dashboard.log_strip import log_ends
from dashboard.store import Store
from tests.support.confluent import produce
from tests.support.messages import keyed_messages
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster


def test_the_collector_sees_a_failover_as_events(cluster_factory, tmp_path):
    cluster = cluster_factory(brokers=3)
    cluster.create_topic("tweets", assignment=[[1, 2, 0]])
    store = Store(tmp_path / "dashboard.sqlite")
    controller = f"127.0.0.1:{cluster.node(0).layout.controller_port}"
    collector = Collector(cluster.bootstrap, store, timeout_s=2.0, controllers=controller)
    try:
        assert collector.sample_once(drain_s=0)
        brokers = store.cluster_brokers()
        assert brokers[["node_id", "state", "controller"]].values.tolist() == [
            [0, "running", True],
            [1, "running", False],
            [2, "running", False],
        ]
        before = store.cluster_partitions("tweets").iloc[0]
        assert (before["leader"], before["replicas"]) == (1, [1, 2, 0])
        assert sorted(before["isr"]) == [0, 1, 2]
        quorum = store.quorum()
        assert quorum is not None and quorum["leader_id"] == 0
        assert store.quorum_replicas()["role"].tolist()[0] == "leader"

        cluster.kill(1)
        new = cluster.wait_for_leader("tweets", 0, not_=1)

        def seen_the_failover() -> bool:
            collector.sample_once(drain_s=0)
            kinds = set(store.events()["kind"])
            return {"leader_election", "isr_shrink"} <= kinds and (
                store.cluster_brokers().set_index("node_id").loc[1, "state"] == "stopped"
            )

        eventually(seen_the_failover, "the failover in the stored events", timeout=30)
        after = store.cluster_partitions("tweets").iloc[0]
        assert after["leader"] == new and after["leader_epoch"] > before["leader_epoch"]
        assert 1 not in after["isr"]
        elections = store.events()
        elections = elections[elections["kind"] == "leader_election"]
        assert elections["text"].str.startswith("Leader of tweets-0: 1 → ").any()

        cluster.start_node(1)

        def rejoined() -> bool:
            collector.sample_once(drain_s=0)
            return "isr_expand" in set(store.events()["kind"])

        eventually(rejoined, "the restarted broker back in the ISR", timeout=30)
        assert store.cluster_brokers().set_index("node_id").loc[1, "state"] == "running"

        cluster.pause(2)  # a hung broker: it accepts connections and never answers
        try:
            assert collector.sample_once(drain_s=0), store.status()
            assert store.cluster_brokers().set_index("node_id").loc[2, "state"] == "paused"
        finally:
            cluster.resume(2)
    finally:
        collector.close()


def test_the_collector_reads_each_replicas_log_end_offset(cluster_factory, tmp_path):
    """Each replica answers a debugging ListOffsets (replica id -2) from its own log, a
    follower too, as Kafka does: the log strip's per-replica log end offsets."""
    cluster = cluster_factory(brokers=3)
    cluster.create_topic("tweets", assignment=[[1, 2, 0]])
    produce(cluster.bootstrap, "tweets", keyed_messages(50))
    store = Store(tmp_path / "dashboard.sqlite")
    collector = Collector(cluster.bootstrap, store, timeout_s=2.0)

    def every_replica_at_the_end() -> bool:
        collector.sample_once(drain_s=0)
        ends = log_ends(store.partition_table("tweets")["log_end_offsets"].iloc[0])
        return sorted(ends) == [(0, 50), (1, 50), (2, 50)]

    try:
        eventually(every_replica_at_the_end, "each replica's log end offset stored", timeout=30)
        assert store.partition_table("tweets")["high_watermark"].iloc[0] == 50
    finally:
        collector.close()
