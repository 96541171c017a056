"""The controller quorum of three bundled nodes (``chirpstream cluster --brokers 3`` with three
voters, every node ``process.roles=broker,controller``, the bundled quorum timeouts).

- Failover: the active controller is SIGKILLed; the figures are the time from the kill until
  another voter answers DescribeQuorum as the leader of a later epoch (a new active
  controller), and until a topic created through the surviving brokers (CreateTopics,
  forwarded to the new controller) is answered. The killed node is started again before the
  next run. Median and max over ``--runs`` runs. Issue 15's target: a new active controller
  within 2 s.
- Idle CPU: the CPU time each node's process uses over ``--idle-s`` seconds of an idle
  cluster, as a percentage of one core: the three combined nodes above (the quorum's fetches,
  the brokers' heartbeats, the replica fetchers' long polls), then three nodes with a single
  controller (``--controllers 1``: node 0 the only voter, the others observers), then three
  controller-only voters with one broker (the quorum's cost alone, plus one broker's
  heartbeats). Issue 15's target: at most 1 % per node. Each node's wake-ups per second
  (its event loop's voluntary context switches) are printed beside: CPU time rises on a busy
  machine, the wake-ups hardly do, so they compare two versions even there.
- Idle CPU with ``chirpstream up``'s partitions (also alone, with ``--with-topics``): the
  three combined nodes again, now holding ``tweets`` (6 partitions) and ``__consumer_offsets``
  (50), all with three replicas, so each node follows ~37 partitions, ~19 from each of the two
  other leaders, with one replica fetcher per leader long-polling every 500 ms (in a KIP-227
  fetch session an idle poll names and answers none of them).

Run with ``python -m bench.quorum`` (``--runs 3 --idle-s 10`` for a quick look);
``--with-topics --profile NODE`` also runs that node under cProfile in the measured window
and prints what woke it and what that cost (``bench.wakeups``).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench import wakeups
from tests.support.cluster import Cluster, NodeProcess

POLL_S = 0.01
UP_OFFSETS = {"offsets.topic.num.partitions": "50"}  # Kafka's default, as `chirpstream up` has
_topics = itertools.count()


def active_controller(cluster: Cluster, after_epoch: int = -1) -> tuple[int, int] | None:
    """(id, epoch) of a voter that leads an epoch after ``after_epoch``, by its own answer."""
    for node in cluster.nodes:
        view = cluster.quorum_view(node.node_id)
        if view is not None and view[0] and view[2] > after_epoch:
            return node.node_id, view[2]
    return None


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while (found := condition()) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench.quorum: no {what} within {timeout:.0f} s")
        time.sleep(POLL_S)
    return found


def one_failover(cluster: Cluster) -> tuple[float, float]:
    """SIGKILL the active controller; seconds until a new one, and until a topic is created."""
    old, epoch = wait_for(lambda: active_controller(cluster), "active controller")
    survivors = ",".join(n.bootstrap for n in cluster.nodes if n.node_id != old)
    killed = time.monotonic()
    cluster.kill(old)
    wait_for(lambda: active_controller(cluster, epoch), "new active controller")
    elected = time.monotonic() - killed
    topic = f"after-kill-{next(_topics)}"
    admin = AdminClient({"bootstrap.servers": survivors, "log_level": 0})
    admin.create_topics([NewTopic(topic, 1, 2)], operation_timeout=30)[topic].result(60)
    created = time.monotonic() - killed
    cluster.start_node(old)
    return elected, created


def cpu_seconds(node: NodeProcess) -> float:
    """User and system CPU time the node's process has used so far (Linux /proc)."""
    assert node.proc is not None
    fields = Path(f"/proc/{node.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wakeup_count(node: NodeProcess) -> int:
    """How often the node's main thread (its event loop) has gone to sleep and been woken
    (voluntary context switches): unlike CPU time, barely moved by what else the machine
    runs, so a change in what wakes a node shows in it even on a busy machine."""
    assert node.proc is not None
    for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise RuntimeError("no voluntary_ctxt_switches in /proc (not Linux?)")


class Idle(NamedTuple):
    """One node's cost while idle: CPU in % of one core, and wake-ups per second."""

    percent: float
    wakeups_per_s: float

    def __str__(self) -> str:
        return f"{self.percent:.2f} % ({self.wakeups_per_s:.0f} wake-ups/s)"


def idle_cpu(cluster: Cluster, seconds: float) -> dict[int, Idle]:
    """Each node's CPU over ``seconds`` of an idle cluster, in % of one core, and how often
    it woke."""
    before = {node.node_id: (cpu_seconds(node), wakeup_count(node)) for node in cluster.nodes}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return {
        node.node_id: Idle(
            100 * (cpu_seconds(node) - before[node.node_id][0]) / elapsed,
            (wakeup_count(node) - before[node.node_id][1]) / elapsed,
        )
        for node in cluster.nodes
    }


def single_controller_idle_cpu(folder: Path, idle_s: float, settle_s: float) -> dict[int, Idle]:
    """Idle CPU of three nodes with one voter (node 0, broker and controller) and two
    brokers that follow the metadata log as observers."""
    cluster = Cluster(folder / "single", brokers=3, controllers=1)
    try:
        cluster.start()
        time.sleep(settle_s)
        cpu = idle_cpu(cluster, idle_s)
    finally:
        cluster.stop()
    print(
        f"idle CPU over {idle_s:.0f} s, a single controller (node 0) and two observers: "
        + ", ".join(f"node {node} {idle}" for node, idle in sorted(cpu.items()))
        + f"; load average {_load()}"
    )
    return cpu


def controllers_idle_cpu(folder: Path, idle_s: float, settle_s: float) -> dict[int, Idle]:
    """Idle CPU of three controller-only voters (ids 1-3) beside one broker (id 0)."""
    cluster = Cluster(folder / "controllers", brokers=1, controllers=3, dedicated_controllers=True)
    try:
        cluster.start()
        time.sleep(settle_s)
        cpu = idle_cpu(cluster, idle_s)
        leader = active_controller(cluster)
    finally:
        cluster.stop()
    print(
        f"idle CPU over {idle_s:.0f} s, controller-only voters: "
        + ", ".join(
            f"node {node} {cpu[node]}"
            + (" (active)" if leader is not None and leader[0] == node else "")
            for node in (1, 2, 3)
        )
        + f"; the broker {cpu[0]}; load average {_load()}"
    )
    return cpu


def topics_idle_cpu(
    folder: Path, idle_s: float, settle_s: float, profiled: int | None = None
) -> dict[int, Idle]:
    """Idle CPU of three combined nodes holding ``chirpstream up``'s partitions, RF 3; with
    ``profiled``, that node runs under cProfile in the measured window (which costs it CPU)
    and what woke it is printed."""
    cluster = Cluster(folder / "topics", brokers=3, controllers=3, config=UP_OFFSETS)
    # Kept after the run (``<out>.start``, ``<out>.end``: pstats dumps) for a closer look.
    profile_out = Path(tempfile.gettempdir()) / f"chirpstream-idle-node-{profiled}.prof"
    for old in wakeups.files(profile_out):
        old.unlink(missing_ok=True)
    if profiled is not None:
        wakeups.profile(cluster.nodes[profiled], profile_out)
    try:
        cluster.start()
        cluster.create_topic("tweets", 6, 3)
        consumer = Consumer(
            {"bootstrap.servers": cluster.bootstrap, "group.id": "bench", "log_level": 0}
        )
        try:  # the group's first commit creates __consumer_offsets
            consumer.commit(offsets=[TopicPartition("tweets", 0, 0)], asynchronous=False)
        finally:
            consumer.close()
        wait_for(lambda: _all_led(cluster, "__consumer_offsets", 50), "__consumer_offsets leaders")
        time.sleep(settle_s)
        if profiled is not None:
            wakeups.start(cluster.nodes[profiled])
        cpu = idle_cpu(cluster, idle_s)
        if profiled is not None:
            wakeups.stop(cluster.nodes[profiled])
            wait_for(lambda: wakeups.written(profile_out) or None, "profile written", 30)
        leader = active_controller(cluster)
    finally:
        cluster.stop()
    print(
        f"idle CPU over {idle_s:.0f} s with tweets (6) and __consumer_offsets (50), RF 3: "
        + ", ".join(
            f"node {node} {idle}"
            + (" (active controller)" if leader is not None and leader[0] == node else "")
            + (" (profiled)" if node == profiled else "")
            for node, idle in sorted(cpu.items())
        )
        + f"; load average {_load()}"
    )
    if profiled is not None:
        print(f"node {profiled} ({profile_out}.*): " + wakeups.wakeup_table(profile_out, idle_s))
    return cpu


def _load() -> str:
    """The machine's load average (1, 5, 15 min): an idle process's CPU barely depends on it,
    but a busy machine delays its timers and batches its wake-ups."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def _all_led(cluster: Cluster, topic: str, partitions: int) -> bool:
    return all(cluster.leader(topic, p) >= 0 for p in range(partitions))


def main(runs: int, idle_s: float, settle_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="chirpstream-quorum-") as folder:
        cluster = Cluster(Path(folder) / "quorum", brokers=3, controllers=3)
        try:
            cluster.start()
            elected, created = [], []
            for run in range(runs):
                to_controller, to_topic = one_failover(cluster)
                elected.append(to_controller)
                created.append(to_topic)
                print(f"run {run + 1}: new controller {to_controller:.2f} s, "
                      f"topic created {to_topic:.2f} s after SIGKILL", flush=True)  # fmt: skip
            time.sleep(settle_s)  # restarted nodes finish catching up
            cpu = idle_cpu(cluster, idle_s)
            leader = active_controller(cluster)
        finally:
            cluster.stop()
    if runs:
        print(
            f"SIGKILL of the active controller -> new active controller: median "
            f"{statistics.median(elected):.2f} s, max {max(elected):.2f} s; -> first topic "
            f"created through it: median {statistics.median(created):.2f} s, max "
            f"{max(created):.2f} s ({runs} runs)"
        )
    print(
        f"idle CPU over {idle_s:.0f} s, per node (broker and controller in one process): "
        + ", ".join(
            f"node {node} {idle}"
            + (" (active controller)" if leader is not None and leader[0] == node else "")
            for node, idle in sorted(cpu.items())
        )
        + f"; load average {_load()}"
    )
    with tempfile.TemporaryDirectory(prefix="chirpstream-quorum-") as folder:
        single_controller_idle_cpu(Path(folder), idle_s, settle_s)
    with tempfile.TemporaryDirectory(prefix="chirpstream-quorum-") as folder:
        controllers_idle_cpu(Path(folder), idle_s, settle_s)
    with tempfile.TemporaryDirectory(prefix="chirpstream-quorum-") as folder:
        topics_idle_cpu(Path(folder), idle_s, settle_s)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.quorum")
    parser.add_argument("--runs", type=int, default=10, help="SIGKILL runs (default 10)")
    parser.add_argument(
        "--idle-s", type=float, default=30.0, help="seconds of idle CPU measured (default 30)"
    )
    parser.add_argument(
        "--settle-s", type=float, default=5.0, help="wait before measuring idle CPU (default 5)"
    )
    parser.add_argument(
        "--with-topics",
        action="store_true",
        help="only the idle CPU of three nodes holding chirpstream up's partitions",
    )
    parser.add_argument(
        "--profile",
        type=int,
        choices=(0, 1, 2),
        metavar="NODE",
        help="with --with-topics: run node NODE (0-2) under cProfile while idle and print "
        "what woke it",
    )
    args = parser.parse_args()
    if args.runs < 0 or args.idle_s <= 0 or args.settle_s < 0:
        parser.error("--runs and --settle-s must not be negative, --idle-s must be positive")
    if args.profile is not None and not args.with_topics:
        parser.error("--profile goes with --with-topics")
    if args.with_topics:
        with tempfile.TemporaryDirectory(prefix="chirpstream-quorum-") as folder:
            topics_idle_cpu(Path(folder), args.idle_s, args.settle_s, args.profile)
    else:
        main(args.runs, args.idle_s, args.settle_s)
