"""Broker workloads 1-4: bulk produce and consume on one partition, produce round trips, and
1,000 partitions written by 100 producer connections. Each runs on a fresh broker; with a peer
(tansu) every workload runs on both in the same run and the figures are printed as ratios."""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bench.broker_stats import usage
from bench.kcat import Kcat, system_kcat, wheel_kcat
from bench.servers import Bundled, Server, Tansu

MANY_PARTITIONS = 1000
CONNECTIONS = 100
ROUND_TRIPS = 2000


@dataclass
class Result:
    name: str
    messages: int
    payload_bytes: int
    seconds: float
    broker_cpu: float
    broker_rss_mb: float
    client_cpu: float  # this process and the kcat processes it ran
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_per_million(self) -> float:
        return self.broker_cpu / self.messages * 1e6

    def line(self) -> str:
        mb = self.payload_bytes / self.seconds / 1e6
        latency = (
            f" p50 {self.p50_ms:.3f} ms p99 {self.p99_ms:.3f} ms" if self.p50_ms is not None else ""
        )
        return (
            f"{self.name:<46} {self.rate:>11,.0f} msg/s {mb:>7.1f} MB/s  broker CPU "
            f"{self.broker_cpu:5.2f} s ({self.cpu_per_million:5.2f} s/M)  peak RSS "
            f"{self.broker_rss_mb:6.1f} MB  clients CPU {self.client_cpu:5.2f} s{latency}"
        )


def measure(
    name: str, server: Server, messages: int, size: int, action: Callable[[], object]
) -> Result:
    """Run ``action`` and take the broker's CPU seconds and peak RSS around it."""
    before, clients_before = [usage(pid) for pid in server.pids], _client_cpu()
    started = time.perf_counter()
    latencies = action()
    seconds = time.perf_counter() - started
    after = [usage(pid) for pid in server.pids]
    result = Result(
        name,
        messages,
        messages * size,
        seconds,
        sum(a.cpu_seconds - b.cpu_seconds for a, b in zip(after, before, strict=True)),
        sum(a.peak_rss_mb for a in after),
        _client_cpu() - clients_before,
    )
    if isinstance(latencies, list):
        cuts = statistics.quantiles(latencies, n=100)
        result.p50_ms, result.p99_ms = cuts[49], cuts[98]
    return result


def _client_cpu() -> float:
    """CPU seconds of this process (confluent-kafka's threads) and of its reaped children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        used = resource.getrusage(who)
        total += used.ru_utime + used.ru_stime
    return total


def confluent_produce(
    bootstrap: str, topic: str, messages: int, size: int, acks: str, config: dict | None = None
) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            **(config or {}),
        }
    )
    value = b"x" * size
    for _ in range(messages):
        while True:
            try:
                producer.produce(topic, value, partition=0)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(120) != 0:
        raise RuntimeError("messages left undelivered")


def confluent_consume(bootstrap: str, topic: str, messages: int) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 10_485_760,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen = 0
    try:
        while seen < messages:
            batch = consumer.consume(10_000, timeout=10)
            if not batch:
                raise RuntimeError(f"consumer stalled after {seen} messages")
            seen += len(batch)
    finally:
        consumer.close()


KCAT_PRODUCE = ["-X", "acks=1", "-X", "linger.ms=5", "-X", "batch.num.messages=10000"]


def kcat_settings(config: dict[str, str]) -> list[str]:
    """``config`` as kcat's ``-X key=value`` options."""
    return [option for key, value in config.items() for option in ("-X", f"{key}={value}")]


def kcat_produce(
    kcat: Kcat, bootstrap: str, topic: str, lines: Path, config: dict | None = None
) -> None:
    """One kcat producer to partition 0; ``config`` adds to or overrides ``KCAT_PRODUCE``
    (kcat applies its ``-X`` options in order)."""
    kcat.run("-P", "-b", bootstrap, "-t", topic, "-p", "0", *KCAT_PRODUCE,
             *kcat_settings(config or {}), stdin=lines)  # fmt: skip


def kcat_consume(kcat: Kcat, bootstrap: str, topic: str, messages: int) -> None:
    out = kcat.run("-C", "-b", bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
                   "-f", "%o\n")  # fmt: skip
    read = out.count(b"\n")
    if read != messages:
        raise RuntimeError(f"{kcat.label} read {read} of {messages} messages")


def many_connections(kcat: Kcat, bootstrap: str, topic: str, lines: Path) -> None:
    """``CONNECTIONS`` kcat producers at once, each spreading its lines over every partition
    (no key: librdkafka's sticky partitioner)."""
    producers = [
        kcat.start("-P", "-b", bootstrap, "-t", topic, *KCAT_PRODUCE, stdin=lines)
        for _ in range(CONNECTIONS)
    ]
    failed = sum(producer.wait(600) != 0 for producer in producers)
    if failed:
        raise RuntimeError(f"{failed} of {CONNECTIONS} producers failed")


def round_trips(bootstrap: str, topic: str, count: int, config: dict | None = None) -> list[float]:
    """Milliseconds for each one-message produce, linger 0, acks=all, one at a time."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, **(config or {})}
    )
    producer.produce(topic, b"warm-up", partition=0)
    producer.flush(10)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        producer.produce(topic, b"x" * 100, partition=0)
        producer.flush(10)
        times.append((time.perf_counter() - started) * 1000)
    return times


@dataclass(frozen=True)
class Workload:
    """One produce (and optionally consume) measurement on a fresh broker."""

    name: str
    produce: Callable[[str], object]  # bootstrap -> latencies or None
    messages: int
    size: int
    partitions: int = 1
    consume: Callable[[str], object] | None = None
    ours_only: bool = False  # e.g. a client that cannot talk to the peer


def workloads(messages: int, size: int, work: Path) -> list[Workload]:
    lines = work / "lines.txt"
    lines.write_bytes((b"y" * (size - 1) + b"\n") * messages)
    share = work / "share.txt"
    per_connection = messages // CONNECTIONS
    share.write_bytes((b"y" * (size - 1) + b"\n") * per_connection)
    new, old = wheel_kcat(work), system_kcat()
    found: list[Workload] = []
    for kcat, ours_only in ((new, False), (old, True)):
        found.append(
            Workload(
                kcat.label,
                partial(kcat_produce, kcat, topic="bench", lines=lines),
                messages,
                size,
                consume=partial(kcat_consume, kcat, topic="bench", messages=messages),
                ours_only=ours_only,
            )
        )
    for acks in ("1", "all"):
        found.append(
            Workload(
                f"confluent-kafka acks={acks}",
                partial(confluent_produce, topic="bench", messages=messages, size=size, acks=acks),
                messages,
                size,
                consume=partial(confluent_consume, topic="bench", messages=messages)
                if acks == "1"
                else None,
            )
        )
    found.append(
        Workload(
            "round trip, linger 0, acks=all",
            partial(round_trips, topic="bench", count=ROUND_TRIPS),
            ROUND_TRIPS,
            100,
        )
    )
    found.append(
        Workload(
            f"{new.label}, {MANY_PARTITIONS} partitions, {CONNECTIONS} conns",
            partial(many_connections, new, topic="bench", lines=share),
            per_connection * CONNECTIONS,
            size,
            partitions=MANY_PARTITIONS,
        )
    )
    return found


def run(workload: Workload, start: Callable[[str], Server], label: str) -> list[Result]:
    server = start(label)
    try:
        server.create_topic("bench", workload.partitions)
        results = [
            measure(
                f"produce {workload.name}",
                server,
                workload.messages,
                workload.size,
                partial(workload.produce, server.bootstrap),
            )
        ]
        if workload.consume is not None:
            results.append(
                measure(
                    f"consume {workload.name.split(' acks')[0]}",
                    server,
                    workload.messages,
                    workload.size,
                    partial(workload.consume, server.bootstrap),
                )
            )
        return results
    finally:
        server.stop()


def ratio_lines(ours: dict[str, Result], peer: dict[str, Result]) -> list[str]:
    """ours/tansu per figure: above 1 is better for rates, below 1 for CPU and latency."""
    lines = ["", "ratios ours/tansu (rates: higher is better; CPU, latency: lower is better)"]
    for name, mine in ours.items():
        theirs = peer.get(name)
        if theirs is None:
            continue
        figures = [
            f"rate {mine.rate / theirs.rate:5.2f}x",
            f"CPU/M msgs {mine.cpu_per_million / max(theirs.cpu_per_million, 1e-9):5.2f}x",
            f"peak RSS {mine.broker_rss_mb:5.1f} vs {theirs.broker_rss_mb:5.1f} MB",
        ]
        if mine.p50_ms is not None and theirs.p50_ms is not None:
            figures.append(f"p50 {mine.p50_ms / theirs.p50_ms:5.2f}x")
            figures.append(f"p99 {mine.p99_ms / theirs.p99_ms:5.2f}x")
        lines.append(f"{name:<46} " + "  ".join(figures))
    return lines


def main(messages: int, size: int, peer: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="chirpstream-bench-") as folder:
        work = Path(folder)
        servers: list[tuple[str, Callable[[str], Server]]] = [
            ("chirpstream", lambda label: Bundled(work, label))
        ]
        if peer == "tansu":
            servers.append(("tansu", lambda label: Tansu(work, label)))
        print(f"broker benchmark: {messages:,} x {size} B messages")
        results: dict[str, dict[str, Result]] = {name: {} for name, _ in servers}
        for number, workload in enumerate(workloads(messages, size, work)):
            for name, start in servers:
                if workload.ours_only and name != "chirpstream":
                    continue
                for result in run(workload, start, f"{name}-{number}"):
                    results[name][result.name] = result
                    print(f"{name:<12} {result.line()}", flush=True)
        if peer:
            print("\n".join(ratio_lines(results["chirpstream"], results[peer])))
        single = results["chirpstream"].get(f"produce {wheel_kcat(work).label}")
        many = [r for n, r in results["chirpstream"].items() if "partitions" in n]
        if single and many:
            print(
                f"\n{MANY_PARTITIONS} partitions / one partition, kcat produce: "
                f"{many[0].rate / single.rate:.2f}x"
            )
