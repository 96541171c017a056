"""Metadata snapshots on a real cluster: every node, a broker that is no voter too, snapshots
its metadata once ``metadata.log.max.record.bytes.between.snapshots`` bytes were applied, and
a broker restarted from its snapshot serves the topics it holds."""

from __future__ import annotations

import pytest

from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster


def snapshots(cluster, node_id: int) -> list[str]:
    # The metadata log's own folder only: a recursive walk of the node's folder raced the
    # broker deleting a partition's "-delete" folder under it (FileNotFoundError in CI).
    folder = cluster.node(node_id).layout.folder
    return sorted(p.name for p in folder.glob("*/__cluster_metadata-0/*.checkpoint"))


def test_every_node_snapshots_and_a_broker_restarts_from_its_snapshot(cluster_factory):
    cluster = cluster_factory(
        brokers=2,
        controllers=1,
        config={"metadata.log.max.record.bytes.between.snapshots": "4096"},
        dedicated_controllers=True,
    )
    for index in range(12):
        cluster.create_topic(f"s{index}", partitions=2, replication=2)
    for node in cluster.nodes:  # brokers 0 and 1 (observers), controller 2
        eventually(lambda n=node.node_id: snapshots(cluster, n), f"node {node.node_id} snapshots")

    cluster.restart(1)
    assert "loading snapshot" in cluster.node(1).read_log()
    for index in range(12):
        seen = cluster.view(1, f"s{index}", 1)
        assert seen is not None and seen.leader >= 0 and sorted(seen.replicas) == [0, 1]
