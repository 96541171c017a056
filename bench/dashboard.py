"""Dashboard costs: each page's render time under Streamlit's AppTest over a store holding one
hour of one-second samples (6 partitions, a 3-member group, 3,600 analytics windows), and the
collector's CPU per cluster sample against a broker subprocess. Run with
``python -m bench.dashboard``; ``make bench`` runs it too."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from streamlit.testing.v1 import AppTest

from bench.workloads import create_topic
from dashboard.collector import Collector
from dashboard.store import (
    BrokerRow,
    ClusterSample,
    CommitRow,
    GroupRow,
    MemberRow,
    PartitionRow,
    Store,
    TailRow,
    WindowRow,
)
from dashboard.ui import STORE_ENV
from tests.support.broker_process import BrokerProcess
from tests.support.confluent import produce
from tests.support.messages import keyed_messages

PAGES = Path(__file__).resolve().parents[1] / "dashboard" / "pages"
HOUR = 3600
SAMPLES = 60


def fill(store: Store, now_ms: int) -> None:
    for second in range(HOUR):
        ts = now_ms - (HOUR - second) * 1000
        high = {p: second * (10 + p) for p in range(6)}
        store.write_sample(
            ClusterSample(
                ts_ms=ts,
                brokers=[BrokerRow(0, "127.0.0.1", 9092)],
                partitions=[PartitionRow("tweets", p, 0, [0], [0], 0, high[p]) for p in range(6)],
                groups=[GroupRow("analytics", "Stable", "consumer", "cooperative-sticky", 3)],
                members=[
                    MemberRow(
                        "analytics",
                        f"m-{m}",
                        f"analytics-{m}",
                        "/127.0.0.1",
                        [("tweets", 2 * m), ("tweets", 2 * m + 1)],
                    )
                    for m in range(3)
                ],
                commits=[
                    CommitRow("analytics", "tweets", p, max(0, high[p] - 50)) for p in range(6)
                ],
            )
        )
    windows = [
        WindowRow(
            now_ms - (HOUR - s) * 1000,
            60,
            0,
            10,
            5,
            6.0,
            {"positive": 30, "neutral": 20, "negative": 10},
            {"en": 40, "es": 20},
            [("kafka", 5), ("python", 3)],
        )
        for s in range(HOUR)
    ]
    store.write_analytics(
        windows,
        {
            "tweets": 60 * HOUR,
            "malformed": 0,
            "retweets": 10 * HOUR,
            "replies": 5 * HOUR,
            "sentiment_sum": 6.0 * HOUR,
            "labels": {"positive": 30 * HOUR},
            "languages": {"en": 40 * HOUR, "es": 20 * HOUR},
            "top_hashtags": [["kafka", 5 * HOUR]],
            "top_authors": [["1", "ada", 100]],
        },
    )
    store.write_tail([TailRow(0, n, now_ms, "1", "ada", "en", f"tweet {n}") for n in range(200)])


def commit_half(bootstrap: str) -> None:
    """A group with committed offsets half way, so each sample also reads commits and lag."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "analytics"})
    try:
        partitions = [TopicPartition("tweets", p) for p in range(6)]
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
        offsets = [TopicPartition("tweets", p, end // 2) for p, end in enumerate(ends)]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def collector_cpu_per_sample(work: Path) -> float:
    """Seconds of process CPU per cluster sample: a 6-partition topic and a committed group."""
    broker = BrokerProcess(work / "broker", work / "broker.log").start()
    try:
        create_topic(broker.bootstrap, "tweets", 6)
        produce(broker.bootstrap, "tweets", keyed_messages(600))
        commit_half(broker.bootstrap)
        collector = Collector(broker.bootstrap, Store(work / "collector.sqlite"))
        try:
            collector.sample_once(drain_s=0.0)  # the first pays for connecting
            collector.cpu_s, collector.samples = 0.0, 0
            for _ in range(SAMPLES):
                collector.sample_once(drain_s=0.0)
            return collector.cpu_s / SAMPLES
        finally:
            collector.close()
    finally:
        broker.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chirpstream-dashboard-") as work:
        per_sample = collector_cpu_per_sample(Path(work))
        print(f"collector CPU per cluster sample {per_sample * 1000:8.1f} ms ({SAMPLES} samples)")
        path = Path(work) / "store.sqlite"
        started = time.perf_counter()
        fill(Store(path), time.time_ns() // 1_000_000)
        print(
            f"dashboard render times, one hour of one-second samples "
            f"(filled in {time.perf_counter() - started:.1f} s)"
        )
        os.environ[STORE_ENV] = str(path)
        for page in ("overview", "partitions", "groups", "analytics", "tail", "produce"):
            app = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)
            app.run()  # the first run pays for imports and the cached store
            started = time.perf_counter()
            app.run()
            elapsed = time.perf_counter() - started
            assert not app.exception, app.exception
            print(f"{page:<11} {elapsed * 1000:8.0f} ms per render")


if __name__ == "__main__":
    main()
