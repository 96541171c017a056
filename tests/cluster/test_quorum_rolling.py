"""R8 of the reliability plan on real processes: three combined nodes (three voters), an
idempotent acks=all producer running throughout, and in turn: the active controller
SIGKILLed and started again, the active controller cut off from the quorum's links and healed,
then a rolling restart of all three nodes (SIGTERM, start again, wait for the full ISR). A
consumer group (one confluent-kafka member, committing after every batch) reads the topic
throughout and, once the producers stop, commits up to its end having skipped nothing. The
history checker finds 0 acked values lost and 0 duplicated; no two controllers acted in one
epoch; the metadata logs agree; and every node ends with the same metadata. Snapshots are
taken every few kilobytes of metadata, so the restarts load them."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

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
from tests.support.broker_process import ROOT
from tests.support.history import History
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster

TOPIC = "r8"
GROUP = "r8-readers"
SNAPSHOT_EVERY = {"metadata.log.max.record.bytes.between.snapshots": "4096"}


@pytest.mark.parametrize("seed", cluster_seeds())
def test_r8_controller_failover_isolation_and_a_rolling_restart_lose_nothing(
    cluster_factory, seed, tmp_path
):
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
    member = _group_member(cluster.bootstrap, tmp_path / "member.log")
    try:
        _faults(cluster, rng, step, pool)
        finish(cluster, TOPIC, history, pool, seed)
        end = _end_offset(cluster.bootstrap)
        eventually(
            lambda: _committed(cluster.bootstrap) == end,
            f"the group committed up to the topic's end ({end})",
            timeout=60,
        )
    finally:
        member.terminate()
        try:
            member.wait(20)
        except subprocess.TimeoutExpired:
            member.kill()
    consumed = _consumed(tmp_path / "member.log")
    assert set(range(end)) <= consumed, f"seed={seed}: the group skipped offsets"
    eventually(lambda: _same_metadata(cluster), "every node shows the same metadata")
    cluster.stop()
    logs = metadata_logs(cluster)
    assert_one_controller_per_epoch(cluster, logs)
    assert_logs_agree(logs)
    for node in cluster.nodes:
        checkpoints = list(node.layout.data_dir.glob("__cluster_metadata-0/*.checkpoint"))
        assert checkpoints, f"node {node.node_id} never wrote a metadata snapshot"


def _faults(cluster, rng: random.Random, step: Steps, pool) -> None:
    """The controller killed, then isolated, then every node restarted in a seeded order."""

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


def _group_member(bootstrap: str, log: Path) -> subprocess.Popen[bytes]:
    member = ("tests.support.group_consumer", bootstrap, GROUP, TOPIC, "range")
    timeouts = ("session.timeout.ms=6000", "heartbeat.interval.ms=1000")
    # librdkafka's own lines go to stderr, apart: written into the same file they could
    # land inside one of the member's JSON lines.
    with log.open("w") as out, log.with_suffix(".stderr").open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", *member, *timeouts], cwd=ROOT, stdout=out, stderr=err
        )


def _consumed(log: Path) -> set[int]:
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return {event["offset"] for event in events if event["event"] == "consumed"}


def _end_offset(bootstrap: str) -> int:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "r8-watermarks"})
    try:
        return reader.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)[1]
    finally:
        reader.close()


def _committed(bootstrap: str) -> int:
    """The group's committed offset (asked without joining the group)."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    try:
        return reader.committed([TopicPartition(TOPIC, 0)], timeout=10)[0].offset
    finally:
        reader.close()


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
