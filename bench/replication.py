"""Replication, ours and a real Apache Kafka cluster's: on each cluster in ``CLUSTERS``, produce
1M x 100 B to one partition with kcat and with confluent-kafka, acks=all, to a topic with RF=1
and (on three nodes) RF=3 with min.insync.replicas=2, then time the produce round trip one
message at a time. Prints every figure, ours/Kafka on the same number of nodes, and RF=3/RF=1 on
the same cluster. Every workload first runs ``WARM_UP_ROUNDS`` times unmeasured on topics of its
own, with ``WARM_UP_ROUND_TRIPS`` round trips each time: a broker JVM's just-in-time compiler
needs that much to finish (on this machine Kafka's RF=3 round trip went from p50 1.5 ms, p99
10 ms to p50 0.45 ms, p99 1.2 ms over its first 15,000 round trips), and Kafka in production
runs warm.

Run with ``python -m bench.replication`` (``--only "chirpstream x3"`` measures one cluster);
``make bench`` runs it on our clusters, ``make bench PEER=kafka`` on Kafka's too. A cluster or
workload that cannot run here prints one line saying why and the rest go on."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from confluent_kafka import KafkaException

from bench.kafka_peer import KafkaCluster, Unavailable
from bench.kcat import wheel_kcat
from bench.servers import Bundled, BundledCluster, Server
from bench.workloads import (
    ROUND_TRIPS,
    Result,
    confluent_produce,
    kcat_produce,
    measure,
    round_trips,
)

KCAT, CONFLUENT, ROUND_TRIP = "kcat", "confluent-kafka", "round trip"
WHAT = (KCAT, CONFLUENT, ROUND_TRIP)
WARM_UP_ROUNDS = 2
WARM_UP_ROUND_TRIPS = 10_000


@dataclass(frozen=True)
class Cluster:
    label: str  # who and how many nodes
    ours: bool
    nodes: int
    start: Callable[[Path, str], Server]  # (work folder, label) -> a serving cluster
    replications: tuple[int, ...]  # the replication factors measured on it


CLUSTERS = (
    Cluster("chirpstream x1", True, 1, Bundled, (1,)),
    Cluster("chirpstream x3", True, 3, BundledCluster, (3, 1)),
    Cluster("Kafka 0.9.0.1 x1", False, 1, KafkaCluster, (1,)),
    Cluster("Kafka 0.9.0.1 x3", False, 3, partial(KafkaCluster, brokers=3), (3, 1)),
)


def topic_configs(replication: int) -> dict[str, str]:
    """RF=3 takes a write once two replicas have it, as a production topic would."""
    return {"min.insync.replicas": "2"} if replication > 1 else {}


def actions(
    server: Server,
    replication: int,
    lines: Path,
    messages: int,
    size: int,
    work: Path,
    stage: str,
    trips: int,
) -> dict[str, tuple[int, int, Callable[[], object]]]:
    """What to measure on ``server``, each on its own new topic named after ``stage``:
    (messages, size, action)."""
    client = server.client_config
    topic = {what: f"{stage}-{what.replace(' ', '-')}-rf{replication}" for what in WHAT}
    for name in topic.values():
        server.create_topic(name, 1, replication, topic_configs(replication))
    kcat = wheel_kcat(work)
    to = server.bootstrap
    return {
        KCAT: (messages, size,
               partial(kcat_produce, kcat, to, topic[KCAT], lines, {"acks": "all", **client})),
        CONFLUENT: (messages, size,
                    partial(confluent_produce, to, topic[CONFLUENT], messages, size, "all",
                            client)),
        ROUND_TRIP: (trips, 100, partial(round_trips, to, topic[ROUND_TRIP], trips, client)),
    }  # fmt: skip


def warm_up(
    server: Server,
    replication: int,
    lines: Path,
    messages: int,
    size: int,
    work: Path,
    rounds: int = WARM_UP_ROUNDS,
) -> None:
    """Every workload ``rounds`` times, unmeasured, on topics of its own."""
    for number in range(rounds):
        planned = actions(
            server, replication, lines, messages, size, work, f"warm-up{number}",
            WARM_UP_ROUND_TRIPS,
        )  # fmt: skip
        for _, _, action in planned.values():
            action()


Results = dict[tuple[str, int, str], Result]  # (cluster label, RF, what) -> figures


def measure_cluster(
    cluster: Cluster,
    work: Path,
    lines: Path,
    messages: int,
    size: int,
    results: Results,
    warm_up_rounds: int = WARM_UP_ROUNDS,
) -> None:
    try:
        server = cluster.start(work, cluster.label.replace(" ", "-"))
    except (Unavailable, RuntimeError, OSError) as error:
        print(f"{cluster.label}: skipped, {_first_line(error)}", flush=True)
        return
    try:
        for replication in cluster.replications:
            plan = (server, replication, lines, messages, size, work)
            try:
                warm_up(*plan, warm_up_rounds)
                planned = actions(*plan, "measured", ROUND_TRIPS)
            except (KafkaException, RuntimeError, subprocess.CalledProcessError) as error:
                print(
                    f"{cluster.label}, RF={replication}: skipped, {_first_line(error)}", flush=True
                )
                continue
            for what, (count, bytes_each, action) in planned.items():
                name = f"{cluster.label}, RF={replication}, {what}"
                try:
                    result = measure(name, server, count, bytes_each, action)
                except (KafkaException, RuntimeError) as error:
                    print(f"{name}: failed, {_first_line(error)}", flush=True)
                    continue
                results[cluster.label, replication, what] = result
                print(result.line(), flush=True)
    finally:
        server.stop()


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def ratio_lines(results: Results) -> list[str]:
    """ours/Kafka on the same number of nodes and RF, and RF=3/RF=1 on one cluster."""
    lines = ["", "ratios (rates: higher is better; latency: lower is better)"]
    measured = [c for c in CLUSTERS if any(label == c.label for label, _, _ in results)]
    for mine in (c for c in measured if c.ours):
        for theirs in (c for c in measured if not c.ours and c.nodes == mine.nodes):
            for replication in mine.replications:
                pair = [
                    (results.get((mine.label, replication, w)),
                     results.get((theirs.label, replication, w)))
                    for w in WHAT
                ]  # fmt: skip
                lines.append(f"{mine.label} / {theirs.label}, RF={replication}: " + _compare(*pair))
    for cluster in measured:
        if {1, 3} <= set(cluster.replications):
            rf3, rf1 = ({w: results.get((cluster.label, rf, w)) for w in WHAT} for rf in (3, 1))
            figures = [f"{what} {_rate(rf3[what], rf1[what])}" for what in (KCAT, CONFLUENT)]
            lines.append(f"{cluster.label}, RF=3 / RF=1: " + "  ".join(figures))
    return lines


def _rate(top: Result | None, bottom: Result | None) -> str:
    return f"{top.rate / bottom.rate:5.2f}x" if top and bottom else "  n/a"


def _compare(
    kcat: tuple[Result | None, Result | None],
    confluent: tuple[Result | None, Result | None],
    round_trip: tuple[Result | None, Result | None],
) -> str:
    figures = [f"{KCAT} {_rate(*kcat)}", f"{CONFLUENT} {_rate(*confluent)}"]
    mine, theirs = round_trip
    if mine and theirs and mine.p50_ms and theirs.p50_ms and mine.p99_ms and theirs.p99_ms:
        figures.append(f"round trip p50 {mine.p50_ms / theirs.p50_ms:5.2f}x")
        figures.append(f"p99 {mine.p99_ms / theirs.p99_ms:5.2f}x")
    return "  ".join(figures)


def main(messages: int, size: int, only: str | None, warm_up_rounds: int) -> None:
    print(f"replication benchmark: {messages:,} x {size} B messages, acks=all")
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="chirpstream-replication-") as folder:
        work = Path(folder)
        lines = work / "lines.txt"
        lines.write_bytes((b"y" * (size - 1) + b"\n") * messages)
        for cluster in CLUSTERS:
            if only is None or only in cluster.label:
                measure_cluster(cluster, work, lines, messages, size, results, warm_up_rounds)
    print("\n".join(ratio_lines(results)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.replication")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument(
        "--only", metavar="TEXT", help="measure only the clusters whose label holds TEXT"
    )
    parser.add_argument("--warm-up-rounds", type=int, default=WARM_UP_ROUNDS)
    arguments = parser.parse_args()
    main(arguments.messages, arguments.size, arguments.only, arguments.warm_up_rounds)
