"""Dashboard costs. Run with ``python -m bench.dashboard`` (``--burst N`` to size step 4);
``make bench`` runs it too.

- the collector's CPU per cluster sample against a broker subprocess, idle;
- README step 4: ``ingest --rate max`` of ``--burst`` tweets with one worker behind, while the
  collector runs as ``chirpstream dashboard`` runs it: its CPU per sample (the whole process,
  every thread) and the largest gap between two cluster samples;
- each page's rerun time under Streamlit's AppTest, through the entry file, over a store
  holding two hours of one-second samples (6 partitions, a 3-member group, analytics);
- each lesson picture's render time on that store (its data read, its Altair chart built
  into the Vega-Lite spec Streamlit sends): the log strip, the key's journey and its grid of
  moved keys, the trace of one tweet (its hops from the samples, with the records it
  follows given: reading them from Kafka is not drawing) for a tweet produced a minute ago
  and one produced two hours ago, whose trace reads every sample since, the rebalance
  timeline over the whole two hours, and the crash before commit (a worker's crash an hour
  ago, in its log).

``--pages-only`` skips the broker steps and measures the last two alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from streamlit.testing.v1 import AppTest

from bench.servers import create_topic
from consumers.crash import UncommittedRange, crash_line
from dashboard import key_journey, log_strip, rebalance, replay, trace
from dashboard.collector import Collector
from dashboard.rows import (
    BrokerRow,
    ClusterSample,
    CommitRow,
    GroupRow,
    MemberRow,
    PartitionRow,
    ResultSecond,
    TailRow,
    WindowRow,
)
from dashboard.store import Store
from dashboard.trace_reader import ResultRecord, Results, TweetRecord
from dashboard.ui import STORE_ENV
from tests.support.broker_process import ROOT, BrokerProcess
from tests.support.commands import service, simulated_ingest
from tests.support.confluent import produce
from tests.support.messages import keyed_messages

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
HISTORY_S = 2 * 3600
SAMPLES = 60
# Not the trace page: it reads its tweet from Kafka, which --pages-only does not start (its
# picture is timed below from the samples alone).
PAGES = (
    "overview",
    "partitions",
    "groups",
    "rebalances",
    "analytics",
    "tail",
    "produce",
    "keys",
    "replay",
    "lessons",
)
PICTURE_RUNS = 20


def one_second(ts: int, second: int) -> ClusterSample:
    """The sample of ``second``: partition p has grown by 10 + p messages a second."""
    high = {p: second * (10 + p) for p in range(6)}
    return ClusterSample(
        ts_ms=ts,
        brokers=[BrokerRow(0, "127.0.0.1", 9092)],
        partitions=[
            PartitionRow("tweets", p, 0, [0], [0], 0, high[p], log_ends=[(0, high[p])])
            for p in range(6)
        ],
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
        commits=[CommitRow("analytics", "tweets", p, max(0, high[p] - 50)) for p in range(6)],
    )


def fill(store: Store, now_ms: int) -> None:
    for second in range(HISTORY_S):
        store.write_sample(one_second(now_ms - (HISTORY_S - second) * 1000, second))
    windows = [
        WindowRow(
            now_ms - (HISTORY_S - s) * 1000,
            60,
            0,
            10,
            5,
            6.0,
            {"positive": 30, "neutral": 20, "negative": 10},
            {"en": 40, "es": 20},
            [("kafka", 5), ("python", 3)],
        )
        for s in range(HISTORY_S)
    ]
    results = [ResultSecond(now_ms - (HISTORY_S - s) * 1000, 60, 6.0) for s in range(HISTORY_S)]
    store.write_analytics(
        windows,
        {
            "tweets": 60 * HISTORY_S,
            "malformed": 0,
            "retweets": 10 * HISTORY_S,
            "replies": 5 * HISTORY_S,
            "sentiment_sum": 6.0 * HISTORY_S,
            "labels": {"positive": 30 * HISTORY_S},
            "languages": {"en": 40 * HISTORY_S, "es": 20 * HISTORY_S},
            "top_hashtags": [["kafka", 5 * HISTORY_S]],
            "top_authors": [["1", "ada", 100]],
        },
        results=results,
    )
    store.write_tail(
        [TailRow(0, n, now_ms, str(n % 150), "ada", "en", f"tweet {n}") for n in range(200)]
    )
    crashed_at = now_ms - HISTORY_S * 500  # an hour ago: the replay page reads an hour
    first = (HISTORY_S // 2) * 10 - 50  # partition 0's commit then
    ranges = [UncommittedRange("tweets", p, first + p, first + p + 40) for p in (0, 1)]
    logs = store.path.parent / "logs"
    logs.mkdir(exist_ok=True)
    line = crash_line("worker 0", "analytics-0", ranges, crashed_at)
    (logs / "analytics.log").write_text(f"worker 0: partitions [0, 1]\n{line}\n")


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


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def burst(work: Path, tweets: int) -> tuple[float, float, int]:
    """(CPU s per sample, largest gap between samples in s, samples) while ``tweets`` are
    published at --rate max with one worker consuming, the collector running on its own."""
    broker = BrokerProcess(work / "burst-broker", work / "burst-broker.log").start()
    store = Store(work / "burst.sqlite")
    collector = Collector(broker.bootstrap, store)
    logs = (work / "burst-worker.log").open("w")
    worker = subprocess.Popen(
        service("consumers.worker", broker.bootstrap), cwd=ROOT, stdout=logs, stderr=logs
    )
    sampler = threading.Thread(target=collector.run)
    try:
        create_topic(broker.bootstrap, "tweets", 6)
        sampler.start()
        time.sleep(3)  # connected, the worker in its group
        started_ms, cpu = time.time_ns() // 1_000_000, _cpu_s()
        subprocess.run(
            simulated_ingest(broker.bootstrap, tweets, 4), cwd=ROOT, check=True, stdout=logs
        )
        ended_ms, cpu = time.time_ns() // 1_000_000, _cpu_s() - cpu
    finally:
        collector.stop()
        sampler.join(30)
        worker.terminate()
        worker.wait(30)
        logs.close()
        broker.stop()
    beats = store.sample_times(started_ms - 2000)
    beats = beats[beats <= ended_ms + 2000]
    return cpu / max(len(beats), 1), beats.diff().max() / 1000, len(beats)


def rerun_times(path: Path) -> dict[str, tuple[float, float]]:
    """Seconds per rerun of each page, through the entry file: (after a new sample, the
    first viewer; another viewer of the same sample). The first run of each page pays for
    imports and is not counted."""
    os.environ[STORE_ENV] = str(path)
    store = Store(path)
    times = {}
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    second = HISTORY_S
    for page in PAGES:
        app.switch_page(f"views/{page}.py").run()
        store.write_sample(one_second(time.time_ns() // 1_000_000, second))
        second += 1
        started = time.perf_counter()
        app.run()
        fresh = time.perf_counter() - started
        started = time.perf_counter()
        app.run()
        times[page] = (fresh, time.perf_counter() - started)
        assert not app.exception, app.exception
    return times


def picture_times(path: Path) -> dict[str, float]:
    """Seconds to draw each lesson picture from the store (best of ``PICTURE_RUNS``): read
    its data, build the chart, turn it into the spec Streamlit sends."""
    store = Store(path)

    def strip() -> None:
        table = store.partition_table("tweets")
        offsets = store.group_table("analytics")
        chart = log_strip.strip(table, {"analytics": offsets})
        chart.to_dict()
        log_strip.caption(table, log_strip.marks(table, {"analytics": offsets}))

    def journey() -> None:
        key_journey.journey("ada", int(store.topics()["partitions"].iloc[0])).steps()

    def moved() -> None:
        key_journey.moves_grid(key_journey.moves(store.tail(200)["key"], 6)).to_dict()

    def crash() -> None:
        found = replay.crashes(path.parent / "logs")[-1]
        since = found.at_ms - 5_000
        ranges = replay.rereads(
            found,
            store.member_history("analytics", since),
            store.lag_history("analytics", since),
        )
        replay.picture(ranges).to_dict()
        totals = store.analytics_totals()
        replay.totals_picture(totals["tweets"], replay.read_twice(ranges)).to_dict()
        replay.why(ranges, replay.repeated(ranges, store.repeats(since)))

    def rebalances() -> None:  # the page's widest window: the whole two hours
        history = store.group_history("analytics")
        members = store.member_history("analytics")
        owners = rebalance.ownership_from_samples(history, members, "tweets", range(6))
        span_rows = rebalance.spans(owners)
        rebalance.timeline(span_rows, "analytics").to_dict()
        rebalance.generations(history, members)
        rebalance.unowned(span_rows)

    newest = store.last_sample_ms()

    def traced(age_s: int) -> Callable[[], None]:
        """Draw the trace of the tweet of partition 0 produced ``age_s`` ago: its offset
        passed the high watermark at that sample, its result came 300 ms later."""
        at = newest - age_s * 1000
        offset = (HISTORY_S - age_s) * 10 - 5
        tweet = TweetRecord(0, offset, "ada", at, False, "tweet")
        result = ResultRecord(7, 0, offset - 3, offset, 4, at + 300, "m-0", at + 250)

        def draw() -> None:
            trace.timeline(trace.follow(store, tweet, Results(result, result, True, 8))).to_dict()

        return draw

    drawn = (
        ("log strip", strip),
        ("key's journey", journey),
        ("moved keys", moved),
        ("tweet trace, 1 min old", traced(60)),
        ("tweet trace, 2 h old", traced(HISTORY_S - 10)),
        ("rebalances 2 h", rebalances),
        ("crash before commit", crash),
    )
    times = {}
    for name, draw in drawn:
        runs = []
        for _ in range(PICTURE_RUNS):
            started = time.perf_counter()
            draw()
            runs.append(time.perf_counter() - started)
        times[name] = min(runs)
    return times


def pages(work: Path) -> None:
    path = work / "store.sqlite"
    started = time.perf_counter()
    fill(Store(path), time.time_ns() // 1_000_000)
    print(
        f"page rerun times, two hours of one-second samples "
        f"(filled in {time.perf_counter() - started:.1f} s)"
    )
    print("page        new sample  same sample (another viewer)")
    for page, (fresh, cached) in rerun_times(path).items():
        print(f"{page:<11} {fresh * 1000:7.0f} ms  {cached * 1000:7.0f} ms")
    print(f"lesson pictures, best of {PICTURE_RUNS} draws")
    for name, took in picture_times(path).items():
        print(f"{name:<23} {took * 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("--burst", type=int, default=200_000, help="tweets in step 4's burst")
    parser.add_argument("--pages-only", action="store_true", help="only the page and picture times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chirpstream-dashboard-") as work:
        if args.pages_only:
            pages(Path(work))
            return
        per_sample = collector_cpu_per_sample(Path(work))
        print(f"collector CPU per cluster sample {per_sample * 1000:8.1f} ms ({SAMPLES} samples)")
        cpu, gap, samples = burst(Path(work), args.burst)
        print(
            f"burst of {args.burst:,} tweets: collector CPU {cpu * 1000:.1f} ms per sample,"
            f" largest gap between samples {gap:.1f} s ({samples} samples)"
        )
        pages(Path(work))


if __name__ == "__main__":
    main()
