"""The tweet pipeline on ``chirpstream up``'s 3-node cluster, through two crashes: the broker
that leads the most ``tweets`` partitions is SIGKILLed mid-run and restarted, then the broker
coordinating the ``analytics`` group. Ingest (idempotent, acks=all) and the workers carry on:
the folded totals count every tweet ingest had acknowledged exactly once, nothing overlaps,
and the group's committed offsets reach the high watermark of every partition."""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from kio.schema.errors import ErrorCode

from chirpstream.settings import ANALYTICS_GROUP, TWEETS_PARTITIONS, TWEETS_TOPIC
from dashboard.cluster_probe import ClusterProbe
from tests.e2e.test_up import Up, descendants, wait_gone
from tests.support.broker_process import ROOT
from tests.support.stats import fold_until
from tests.support.waiting import eventually
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster

NODE_LINE = re.compile(r"^  node (?P<id>\d+) .* data=(?P<folder>\S+)  pid=(?P<pid>\d+)$", re.M)
DONE = re.compile(r"^ingest: done, sent (\d+), delivered (\d+), errors (\d+)$", re.M)
DELIVERED = re.compile(r"delivered (\d+)")


class Nodes:
    """The nodes of ``up``'s cluster: SIGKILLed and started again by the test, on the same
    ``server.properties``, data and ports (a restarted node is the test's to stop)."""

    def __init__(self, cluster_log: str) -> None:
        found = list(NODE_LINE.finditer(cluster_log))
        self.pids = {int(m["id"]): int(m["pid"]) for m in found}
        self.folders = {int(m["id"]): Path(m["folder"]) for m in found}
        self.restarted: list[subprocess.Popen] = []

    def kill(self, node_id: int) -> None:
        os.kill(self.pids[node_id], signal.SIGKILL)
        eventually(lambda: not _running(self.pids[node_id]), f"node {node_id} is gone")

    def restart(self, node_id: int) -> None:
        """Start the node again; while its ports are still held (a port of a killed process's
        connections can linger a moment), try again."""
        for _ in range(30):
            if self._start(node_id):
                return
            time.sleep(1)
        sockets = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
        raise AssertionError(f"node {node_id}'s ports stayed in use:\n{sockets}")

    def _start(self, node_id: int) -> bool:
        """Whether the node started; False when a port of its was in use."""
        log = self.folders[node_id] / "restarted.log"
        properties = self.folders[node_id] / "server.properties"
        with log.open("a") as out:
            start = out.tell()
            process = subprocess.Popen(
                [sys.executable, "-m", "broker", str(properties)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.restarted.append(process)
        self.pids[node_id] = process.pid
        eventually(
            lambda: (
                f"READY node={node_id}" in log.read_text()[start:] or process.poll() is not None
            ),
            f"node {node_id} ready again",
            60,
        )
        if process.poll() is None:
            return True
        output = log.read_text()[start:]
        assert "already in use" in output, output
        return False

    def stop_restarted(self) -> None:
        for process in self.restarted:
            if process.poll() is None:
                process.terminate()
        for process in self.restarted:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def leaders(admin: AdminClient) -> dict[int, int]:
    """Each ``tweets`` partition's leader, as the cluster's metadata names it now."""
    topic = admin.list_topics(TWEETS_TOPIC, timeout=10).topics[TWEETS_TOPIC]
    return {p.id: p.leader for p in topic.partitions.values()}


def coordinator(bootstrap: str) -> int | None:
    """The analytics group's coordinator, as the first broker that answers FindCoordinator
    names it; None while none is known."""
    for address in bootstrap.split(","):
        try:
            with WireClient(int(address.rsplit(":", 1)[1]), timeout=5) as client:
                answer = client.request(10, 3, {"key": ANALYTICS_GROUP, "key_type": 0})
        except OSError:
            continue
        if answer.error_code == ErrorCode.none:
            return int(answer.node_id)
    return None


def high_watermarks(bootstrap: str) -> dict[int, int]:
    """Each ``tweets`` partition's high watermark, asked again while a leadership moves (the
    restarted broker takes its preferred partitions back)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-marks"})

    def ask() -> dict[int, int] | None:
        try:
            return {
                p: consumer.get_watermark_offsets(TopicPartition(TWEETS_TOPIC, p), timeout=10)[1]
                for p in range(TWEETS_PARTITIONS)
            }
        except KafkaException:
            return None

    try:
        return eventually(ask, "the high watermarks")
    finally:
        consumer.close()


def committed(bootstrap: str) -> dict[int, int] | None:
    """The analytics group's committed offsets; None while its coordinator moves. Asked over
    the project's wire client: librdkafka 2.16.0's admin ListConsumerGroupOffsets can crash
    the process (SIGSEGV) while a coordinator moves (librdkafka issue #5040)."""
    probe = ClusterProbe(bootstrap, None)
    try:
        asked = [(TWEETS_TOPIC, p) for p in range(TWEETS_PARTITIONS)]
        answer = probe.committed(ANALYTICS_GROUP, asked)
    finally:
        probe.close()
    return None if answer is None else {p: offset for (_, p), offset in answer.items()}


def delivered(log: Path) -> int:
    counts = DELIVERED.findall(log.read_text()) if log.exists() else []
    return int(counts[-1]) if counts else 0


def test_the_pipeline_rides_through_a_leader_and_the_groups_coordinator_being_killed(tmp_path):
    up = Up(tmp_path, "--no-dashboard", "--broker-port", "0", "--rate", "1000",
            "--limit", "20000", "--seed", "11")  # fmt: skip
    nodes: Nodes | None = None
    try:
        where, bootstrap = up.wait_until_up()
        assert where == "a bundled 3-node cluster"
        started = descendants(up.proc.pid)
        nodes = Nodes((tmp_path / "logs" / "cluster.log").read_text())
        assert sorted(nodes.pids) == [0, 1, 2]
        admin = AdminClient({"bootstrap.servers": bootstrap})
        ingest_log = tmp_path / "logs" / "ingest.log"

        # Mid-run, the broker leading the most tweets partitions crashes; its partitions get
        # new leaders, and it comes back as a follower.
        eventually(lambda: delivered(ingest_log) >= 3000, "ingest is under way", 60)
        victim = collections.Counter(leaders(admin).values()).most_common(1)[0][0]
        nodes.kill(victim)
        eventually(
            lambda: all(leader not in (victim, -1) for leader in leaders(admin).values()),
            f"every tweets partition led by a broker other than {victim}",
        )
        nodes.restart(victim)

        # Then the broker coordinating the analytics group crashes, and comes back.
        target = eventually(
            lambda: (found := coordinator(bootstrap)) is not None and (found,),
            "the analytics group's coordinator",
        )[0]
        nodes.kill(target)
        eventually(
            lambda: coordinator(bootstrap) not in (None, target),
            f"a coordinator for the analytics group other than {target}",
        )
        nodes.restart(target)
        # up's status line is back with the whole cluster (a 3 s fence, then ISR catch-up).
        seen = len(up.output())
        eventually(
            lambda: re.search(
                r"^status: .* tweets in/s .* 3 brokers up  0 under-replicated partitions$",
                up.output()[seen:],
                re.M,
            ),
            "a status line with every broker up and every partition fully replicated",
            60,
        )

        done = eventually(lambda: DONE.search(ingest_log.read_text()), "ingest done", 120)
        sent, acknowledged, errors = (int(n) for n in done.groups())
        assert (sent, errors) == (20000, 0)
        marks = high_watermarks(bootstrap)
        assert sum(marks.values()) == acknowledged, "idempotent: each tweet written once"
        # The workers have read everything once their commits reach the high watermarks, and
        # a worker publishes a run's counts before it commits the run, so from then on the
        # totals are complete: short of the tweets acknowledged would be a loss, not slowness.
        eventually(
            lambda: committed(bootstrap) == marks, "committed offsets at the high watermark", 180
        )
        folder = fold_until(bootstrap, lambda f: f.totals.tweets >= acknowledged, 60)
        assert (folder.totals.tweets, folder.overlaps, folder.invalid) == (acknowledged, 0, 0)

        # Every client noticed the moves and said so, once per partition it uses.
        analytics_log = (tmp_path / "logs" / "analytics.log").read_text()
        for log in (ingest_log.read_text(), analytics_log):
            assert re.search(r"tweets\[\d\] has a new leader: broker \d \(was \d\)", log)
        assert up.stop(signal.SIGINT) == 0
    finally:
        up.kill()
        if nodes is not None:
            nodes.stop_restarted()
    assert wait_gone(started - {p.pid for p in nodes.restarted}, 60) == set()
    assert "Traceback" not in up.output()
