"""The workloads: bulk produce and consume with confluent-kafka and kcat, and round trips."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.broker_stats import usage
from tests.support.broker_process import BrokerProcess


@dataclass
class Result:
    name: str
    messages: int
    payload_bytes: int
    seconds: float
    broker_cpu: float
    broker_rss_mb: float
    extra: str = ""

    def line(self) -> str:
        rate = self.messages / self.seconds
        mb = self.payload_bytes / self.seconds / 1e6
        cpu_per_million = self.broker_cpu / self.messages * 1e6 if self.messages else 0.0
        return (
            f"{self.name:<34} {rate:>11,.0f} msg/s {mb:>8.1f} MB/s  broker CPU "
            f"{self.broker_cpu:6.2f} s ({cpu_per_million:5.2f} s/M msgs)  peak RSS "
            f"{self.broker_rss_mb:6.1f} MB {self.extra}"
        )


def _measure(
    name: str, broker: BrokerProcess, messages: int, size: int, action: Callable[[], str | None]
) -> Result:
    before = usage(broker.proc.pid)
    started = time.perf_counter()
    extra = action() or ""
    seconds = time.perf_counter() - started
    after = usage(broker.proc.pid)
    return Result(
        name,
        messages,
        messages * size,
        seconds,
        after.cpu_seconds - before.cpu_seconds,
        after.peak_rss_mb,
        extra,
    )


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)


def confluent_produce(bootstrap: str, topic: str, messages: int, size: int, acks: str) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
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


def kcat_produce(bootstrap: str, topic: str, lines_file: Path) -> None:
    command = f"kcat -P -b {bootstrap} -t {topic} -p 0 -X acks=1 -X linger.ms=5"
    with lines_file.open("rb") as source:
        subprocess.run(
            [*command.split(), "-X", "batch.num.messages=10000"],
            stdin=source,
            check=True,
            timeout=600,
        )


def kcat_consume(bootstrap: str, topic: str, messages: int) -> None:
    command = f"kcat -C -b {bootstrap} -t {topic} -p 0 -o beginning -e -q"
    done = subprocess.run(
        [*command.split(), "-f", "%o\n"], capture_output=True, check=True, timeout=600
    )
    count = done.stdout.count(b"\n")
    if count != messages:
        raise RuntimeError(f"kcat read {count} of {messages} messages")


def round_trips(bootstrap: str, topic: str, count: int) -> str:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    producer.produce(topic, b"warm-up", partition=0)
    producer.flush(10)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        producer.produce(topic, b"x" * 100, partition=0)
        producer.flush(10)
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=100)
    return f"round trip p50 {cuts[49]:.3f} ms  p99 {cuts[98]:.3f} ms"


def run_all(messages: int, size: int, work: Path) -> list[Result]:
    lines = work / "lines.txt"
    lines.write_bytes((b"y" * (size - 1) + b"\n") * messages)
    # (label, produce(bootstrap), consume(bootstrap)); each pair runs on a fresh broker.
    workloads = [
        (
            "confluent-kafka acks=1",
            partial(confluent_produce, topic="bench", messages=messages, size=size, acks="1"),
            partial(confluent_consume, topic="bench", messages=messages),
        ),
        (
            "confluent-kafka acks=all",
            partial(confluent_produce, topic="bench", messages=messages, size=size, acks="all"),
            partial(confluent_consume, topic="bench", messages=messages),
        ),
        (
            "kcat acks=1",
            partial(kcat_produce, topic="bench", lines_file=lines),
            partial(kcat_consume, topic="bench", messages=messages),
        ),
    ]
    results = []
    for number, (label, produce, consume) in enumerate(workloads):
        broker = BrokerProcess(work / f"broker-{number}", work / f"broker-{number}.log").start()
        try:
            create_topic(broker.bootstrap, "bench")
            results.append(
                _measure(
                    f"produce {label}", broker, messages, size, partial(produce, broker.bootstrap)
                )
            )
            results.append(
                _measure(
                    f"consume {label.split()[0]}",
                    broker,
                    messages,
                    size,
                    partial(consume, broker.bootstrap),
                )
            )
        finally:
            broker.stop()
    broker = BrokerProcess(work / "rtt", work / "rtt.log").start()
    try:
        create_topic(broker.bootstrap, "rtt")
        results.append(
            _measure(
                "produce round trip (linger 0)",
                broker,
                2000,
                100,
                partial(round_trips, broker.bootstrap, "rtt", 2000),
            )
        )
    finally:
        broker.stop()
    return results


def main(messages: int, size: int) -> None:
    with tempfile.TemporaryDirectory(prefix="chirpstream-bench-") as work:
        print(f"broker benchmark: {messages:,} x {size} B messages, one partition")
        for result in run_all(messages, size, Path(work)):
            print(result.line(), flush=True)
