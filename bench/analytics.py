"""Analytics throughput: tweets/s folded with 1, 2 and 3 workers (VADER sentiment included),
each count from a fresh group over the same 150,000 tweets. Run with
``python -m bench.analytics``; ``make bench`` runs it too."""

from __future__ import annotations

import itertools
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from consumers.features import analyze
from consumers.fold import StatsFolder
from ingest.simulate import DEFAULT_RATE, simulated_envelopes
from tests.support.broker_process import ROOT, BrokerProcess
from tests.support.commands import service, simulated_ingest

TWEETS = 150_000


def analyze_rate(count: int = 20_000) -> float:
    stream = simulated_envelopes(1, 1_700_000_000_000, DEFAULT_RATE)
    raws = [envelope.raw for envelope in itertools.islice(stream, count)]
    started = time.perf_counter()
    for raw in raws:
        analyze(raw)
    return count / (time.perf_counter() - started)


def fold_time(bootstrap: str, group: str, workers: int) -> float:
    """Seconds from starting ``workers`` processes to every tweet folded from tweet-stats."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            service("consumers.worker", bootstrap, "--id", str(i), "--group", group),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    folder = StatsFolder()
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{group}-reader"})
    reader.assign([TopicPartition("tweet-stats", 0, OFFSET_BEGINNING)])
    try:  # each count runs on a fresh broker, so everything in tweet-stats is its own
        while folder.totals.tweets < TWEETS:
            for message in reader.consume(1000, timeout=0.5):
                if message.error() is None:
                    folder.add(message.value())
        return time.perf_counter() - started
    finally:
        reader.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)


def main() -> None:
    print(f"analytics throughput ({TWEETS:,} simulated tweets, 6 partitions, 2 cores)")
    print(f"analyze() alone, one core: {analyze_rate():,.0f} tweets/s")
    for workers in (1, 2, 3):
        with tempfile.TemporaryDirectory(prefix="chirpstream-analytics-") as work:
            broker = BrokerProcess(Path(work) / "data", Path(work) / "broker.log").start()
            try:
                subprocess.run(
                    simulated_ingest(broker.bootstrap, TWEETS, 1),
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                )
                seconds = fold_time(broker.bootstrap, f"bench-{workers}", workers)
            finally:
                broker.stop()
        rate = TWEETS / seconds
        print(
            f"{workers} worker(s): {rate:8,.0f} tweets/s in all, {rate / workers:8,.0f} per "
            f"worker ({seconds:.1f} s, worker start-up included)",
            flush=True,
        )


if __name__ == "__main__":
    main()
