"""R8 of the reliability plan on real processes: three combined nodes (three voters), an
idempotent acks=all producer running throughout, and in turn: the active controller
SIGKILLed and started again, the active controller cut off from the quorum's links and healed,
then a rolling restart of all three nodes (SIGTERM, start again, wait for the full ISR). The
history checker finds 0 acked values lost and 0 duplicated; no two controllers acted in one
epoch; the metadata logs agree; and every node ends with the same metadata. Snapshots are
taken every few kilobytes of metadata, so the restarts load them."""

from __future__ import annotations

import random

import pytest

from tests.cluster.quorum_checks import (
    THREE_VOTERS,
    active_controller,
    assert_logs_agree,
    assert_one_controller_per_epoch,
    metadata_logs,
)
from tests.cluster.scenario import (
    Steps,
    cluster_seeds,
    finish,
    start_producers,
    wait_for_full_isr,
)
from tests.support.history import History
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster

TOPIC = "r8"
SNAPSHOT_EVERY = {"metadata.log.max.record.bytes.between.snapshots": "4096"}


@pytest.mark.parametrize("seed", cluster_seeds())
def test_r8_controller_failover_isolation_and_a_rolling_restart_lose_nothing(cluster_factory, seed):
    rng = random.Random(seed)
    step = Steps(seed)
    cluster = cluster_factory(**THREE_VOTERS, config=SNAPSHOT_EVERY, proxied=True)
    order = [0, 1, 2]
    rng.shuffle(order)
    cluster.create_topic(TOPIC, assignment=[order], **{"min.insync.replicas": "2"})
    cluster.create_topic("untouched", partitions=2, replication=3)
    history = History()
    pool = start_producers(cluster, TOPIC, history)
    pool.wait_for_acks(200)

    old, epoch = active_controller(cluster)
    step(f"SIGKILL of the active controller {old} (epoch {epoch})")
    cluster.kill(old)
    new, epoch = active_controller(cluster, after_epoch=epoch, not_=old)
    step(f"node {new} is the active controller in epoch {epoch}")
    pool.wait_for_acks(pool.acked() + 200)
    cluster.start_node(old)
    wait_for_full_isr(cluster, TOPIC)

    old, epoch = active_controller(cluster)
    step(f"isolating the active controller {old} (epoch {epoch})")
    cluster.isolate(old)
    new, epoch = active_controller(cluster, after_epoch=epoch, not_=old)
    step(f"node {new} is the active controller in epoch {epoch}")
    pool.wait_for_acks(pool.acked() + 200)
    cluster.heal()
    wait_for_full_isr(cluster, TOPIC)

    restarts = [0, 1, 2]
    rng.shuffle(restarts)
    for node in restarts:
        step(f"restarting node {node}")
        cluster.restart(node)
        pool.wait_for_acks(pool.acked() + 200)
        wait_for_full_isr(cluster, TOPIC)

    finish(cluster, TOPIC, history, pool, seed)
    eventually(lambda: _same_metadata(cluster), "every node shows the same metadata")
    cluster.stop()
    assert_one_controller_per_epoch(cluster)
    assert_logs_agree(metadata_logs(cluster))
    for node in cluster.nodes:
        checkpoints = list(node.layout.data_dir.glob("__cluster_metadata-0/*.checkpoint"))
        assert checkpoints, f"node {node.node_id} never wrote a metadata snapshot"


def _same_metadata(cluster) -> bool:
    """Every node names the same replicas for every partition of both topics, and a leader."""
    for topic, partitions in ((TOPIC, 1), ("untouched", 2)):
        for partition in range(partitions):
            views = [cluster.view(n.node_id, topic, partition) for n in cluster.nodes]
            if any(v is None or v.leader < 0 for v in views):
                return False
            if len({(v.replicas, v.leader, v.leader_epoch) for v in views}) != 1:
                return False
    return True
