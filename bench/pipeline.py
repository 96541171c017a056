"""Workload 6: the demo pipeline end to end. Simulated tweets at a set rate through ingest, the
bundled broker and 3 analytics workers; measures the tweets/s produced and folded over a steady
window, and the tweet-to-result latency: from a tweet's record timestamp (set by ingest's
producer) to the timestamp of the first ``tweet-stats`` result that covers its offset. Run with
``python -m bench.pipeline``; ``make bench`` runs it too."""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from chirpstream.settings import ANALYTICS_GROUP, STATS_TOPIC, TWEETS_PARTITIONS, TWEETS_TOPIC
from consumers.fold import StatsFolder
from tests.support.broker_process import ROOT, BrokerProcess
from tests.support.commands import service

WARM_UP_S = 5.0


class Reader:
    """Reads whole topics from the beginning with one consumer."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "bench-pipeline",
                "enable.auto.commit": False,
            }
        )

    def committed(self, group: str) -> int:
        partitions = [TopicPartition(TWEETS_TOPIC, p) for p in range(TWEETS_PARTITIONS)]
        committer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            return sum(max(tp.offset, 0) for tp in committer.committed(partitions, timeout=10))
        finally:
            committer.close()

    def high_watermarks(self) -> int:
        return sum(
            self.consumer.get_watermark_offsets(TopicPartition(TWEETS_TOPIC, p), timeout=10)[1]
            for p in range(TWEETS_PARTITIONS)
        )

    def read(self, partitions: list[TopicPartition], until: int) -> list:
        self.consumer.assign(partitions)
        messages: list = []
        while len(messages) < until:
            batch = self.consumer.consume(10_000, timeout=5)
            if not batch:
                break
            messages += [m for m in batch if m.error() is None]
        return messages

    def close(self) -> None:
        self.consumer.close()


def latencies_ms(tweets: list, results: list) -> list[float]:
    """For each tweet: the first covering result's timestamp minus the tweet's."""
    tweet_ms = {(m.partition(), m.offset()): m.timestamp()[1] for m in tweets}
    first_seen: dict[tuple[int, int], int] = {}
    for message in sorted(results, key=lambda m: m.timestamp()[1]):
        result = _range(message.value())
        if result is None:
            continue
        partition, first, last = result
        for offset in range(first, last + 1):
            first_seen.setdefault((partition, offset), message.timestamp()[1])
    return [first_seen[key] - stamp for key, stamp in tweet_ms.items() if key in first_seen]


def _range(value: bytes) -> tuple[int, int, int] | None:
    result = json.loads(value)
    if not isinstance(result, dict) or "partition" not in result:
        return None
    return result["partition"], result["first_offset"], result["last_offset"]


def main(rate: int, seconds: float, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="chirpstream-pipeline-") as folder:
        work = Path(folder)
        broker = BrokerProcess(work / "data", work / "broker.log").start()
        bootstrap = broker.bootstrap
        started = [
            subprocess.Popen(
                service("consumers", bootstrap, "--workers", str(workers)),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                service("ingest", bootstrap, "--rate", str(rate), "--seed", "1"),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            ),
        ]
        reader = Reader(bootstrap)
        try:
            time.sleep(WARM_UP_S)
            t0, high_before = time.monotonic(), reader.high_watermarks()
            done_before = reader.committed(ANALYTICS_GROUP)
            time.sleep(seconds)
            t1, high_after = time.monotonic(), reader.high_watermarks()
            done_after = reader.committed(ANALYTICS_GROUP)
            for process in reversed(started):  # ingest first, then let the workers finish
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            tweets = reader.read(
                [
                    TopicPartition(TWEETS_TOPIC, p, OFFSET_BEGINNING)
                    for p in range(TWEETS_PARTITIONS)
                ],
                until=reader.high_watermarks(),
            )
            results = reader.read([TopicPartition(STATS_TOPIC, 0, OFFSET_BEGINNING)], until=10**9)
        finally:
            reader.close()
            for process in started:
                if process.poll() is None:
                    process.kill()
            broker.stop()
    folded = StatsFolder()
    for message in results:
        folded.add(message.value())
    latency = latencies_ms(tweets, results)
    cuts = statistics.quantiles(latency, n=100)
    print(f"pipeline: simulated tweets at {rate:,}/s, {workers} analytics workers, 2 cores")
    window = t1 - t0
    print(f"produced   {(high_after - high_before) / window:9,.0f} tweets/s over {window:.0f} s")
    print(f"committed  {(done_after - done_before) / window:9,.0f} tweets/s by the workers")
    lag = (high_before - done_before, high_after - done_after)
    print(f"lag        {lag[0]:9,} at the start, {lag[1]:,} at the end")
    print(f"folded     {folded.totals.tweets:9,} of {len(tweets):,} tweets after the stop")
    print(f"tweet-to-result latency p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms", end=" ")
    print(f"({len(latency):,} tweets)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline")
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    main(args.rate, args.seconds, args.workers)
