"""Workload 6: the demo pipeline end to end. Simulated tweets at a set rate through ingest, the
bundled brokers and 3 analytics workers, on one node with RF 1 and then on three nodes with
RF 3 (``tweets`` as ``chirpstream up`` makes it), where the broker leading the most ``tweets``
partitions is SIGKILLed halfway through. Measures the tweets/s produced and committed over the
window, and the tweet-to-result latency of the tweets produced in it (the warm-up, a group
joining and reading what ingest wrote meanwhile, left out): from a tweet's record timestamp
(set by ingest's producer) to the timestamp of the first ``tweet-stats`` result that covers its
offset. On three nodes also the failover window: from the kill until both the tweets acked
to ingest per second (its progress lines, one a second) and the tweets the workers committed
per second (the group's committed offsets sampled every ``SAMPLE_S``) are back to
``RECOVERED_SHARE`` of their rates before the kill, each over ``RATE_WINDOW_S``; the latency
of the tweets outside it, and until when after the kill tweets were produced whose results came
over 1 s late (the backlog the failover left is not counted in the window: its late results
show there). Each second from the kill: acked/s, committed/s, results published, tweets read
by partition (from the results' ranges) and the p99 latency of the tweets produced in it, with
each worker's partitions at the kill and every change after it: where the late results come
from. Before the kill, the CPU each process spent (utime + stime from /proc: ingest, each
worker, each broker) per 1,000 tweets produced, which the machine's other load barely changes,
unlike the rates. And the tweet trace's cost (``dashboard.trace``): the results per 1,000
tweets, each carrying the worker's ``member.id`` and ``read.ms`` headers, times the worker CPU
those headers add to one result (``trace_headers_us``), as a share of the workers' CPU per
tweet. Run with ``python -m bench.pipeline`` (``--rate 5000``: issue 16's sustained
target; ``--three-nodes-only`` leaves out the single node); ``make bench`` runs it too."""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from bench.broker_stats import usage
from chirpstream.kafka import ensure_topic
from chirpstream.settings import ANALYTICS_GROUP, STATS_TOPIC, TWEETS_PARTITIONS, TWEETS_TOPIC
from chirpstream.up import TOPICS, topic_settings
from consumers.fold import StatsFolder
from consumers.worker import Worker
from tests.support.broker_process import ROOT, BrokerProcess
from tests.support.cluster import Cluster
from tests.support.commands import service

WARM_UP_S = 5.0
SLOW_MS = 1000  # a result later than this is late
SAMPLE_S = 0.5  # how often the group's committed offsets are sampled
RATE_WINDOW_S = 2.0  # committed/s after the kill is measured over this long (workers commit 1/s)
RECOVERED_SHARE = 0.9  # committed/s back to this share of its rate before the kill: recovered

Sample = tuple[float, int]  # (time.monotonic(), tweets committed by the group)
Setup = tuple[str, Callable[[], int], dict[str, int]]  # bootstrap, kill, broker pids by name


def children(pid: int) -> list[int]:
    """The pids of ``pid``'s child processes (the analytics launcher's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """utime + stime of each process so far; a process gone already is left out."""
    spent = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            spent[name] = usage(pid).cpu_seconds
    return spent


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
        """Asked of a new client each time (for up to a minute while a dead leader's partitions
        move): a long-lived one keeps asking the leader it last heard of."""
        for _ in range(6):
            asker = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-marks"})
            try:
                return sum(
                    asker.get_watermark_offsets(TopicPartition(TWEETS_TOPIC, p), timeout=10)[1]
                    for p in range(TWEETS_PARTITIONS)
                )
            except KafkaException:
                continue
            finally:
                asker.close()
        raise RuntimeError("the high watermarks stayed unanswered for a minute")

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


class CommitSampler(threading.Thread):
    """Samples the tweets the group has committed every ``SAMPLE_S``, with one long-lived
    client (it finds a new coordinator by itself); a sample that fails is left out."""

    def __init__(self, bootstrap: str, group: str) -> None:
        super().__init__(daemon=True)
        self.samples: list[Sample] = []
        self._done = threading.Event()
        self._asker = Consumer({"bootstrap.servers": bootstrap, "group.id": group})

    def run(self) -> None:
        partitions = [TopicPartition(TWEETS_TOPIC, p) for p in range(TWEETS_PARTITIONS)]
        while not self._done.wait(SAMPLE_S):
            try:
                committed = self._asker.committed(partitions, timeout=SAMPLE_S * 4)
            except KafkaException:
                continue
            self.samples.append((time.monotonic(), sum(max(tp.offset, 0) for tp in committed)))

    def stop(self) -> list[Sample]:
        """Stop sampling (a no-op the second time); returns the samples taken."""
        if not self._done.is_set():
            self._done.set()
            if self.is_alive():
                self.join()
            self._asker.close()
        return self.samples


class Lines(threading.Thread):
    """Reads a service's output lines, each kept with the time it came (ingest prints
    ``... delivered N ...`` every second; each worker ``worker k: partitions [...]`` when its
    assignment changes)."""

    def __init__(self, lines: IO[str]) -> None:
        super().__init__(daemon=True)
        self.lines: list[tuple[float, str]] = []
        self._lines = lines

    def run(self) -> None:
        for line in self._lines:
            self.lines.append((time.monotonic(), line))

    def delivered(self) -> list[Sample]:
        """The totals of tweets acknowledged by the brokers, from ingest's progress lines."""
        found = ((t, re.search(r"\bdelivered (\d+)", line)) for t, line in self.lines)
        return [(t, int(match.group(1))) for t, match in found if match]

    def assignments(self) -> list[tuple[float, str, str]]:
        """Each change of a worker's partitions: (when, the worker, its partitions)."""
        pattern = re.compile(r"(worker \d+): partitions (\[.*\])")
        found = ((t, pattern.match(line)) for t, line in self.lines)
        return [(t, match.group(1), match.group(2)) for t, match in found if match]


def committed_rate(samples: list[Sample], start: float, end: float) -> float | None:
    """Tweets counted per second (committed, or acknowledged) between the samples nearest
    after ``start`` and before ``end``; None with fewer than two samples there (the
    coordinator did not answer)."""
    inside = [(t, n) for t, n in samples if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] == inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def recovery_s(samples: list[Sample], killed_at: float, rate_before: float) -> float | None:
    """Seconds from the kill to the first sample where the committed/s over the last
    ``RATE_WINDOW_S`` (all of it after the kill) is ``RECOVERED_SHARE`` of ``rate_before``;
    None if that never happened."""
    for i, (t, n) in enumerate(samples):
        if t - RATE_WINDOW_S < killed_at:
            continue
        earlier = [(u, m) for u, m in samples[:i] if killed_at <= u <= t - RATE_WINDOW_S]
        if earlier:
            u, m = earlier[-1]
            if (n - m) / (t - u) >= RECOVERED_SHARE * rate_before:
                return t - killed_at
    return None


def per_second(
    samples: list[Sample], start: float, seconds: int, reach: float = SAMPLE_S / 2
) -> list[float | None]:
    """The rate in each whole second from ``start``, between the samples nearest each edge
    (from up to ``reach`` before the second: half the sampling interval, or a whole one for
    ingest's progress lines, one a second); None for a second without two samples."""
    return [committed_rate(samples, start + k - reach, start + k + 1) for k in range(seconds)]


Range = tuple[int, int, int, int]  # a result: (its timestamp in ms, partition, first, last offset)


def result_ranges(results: list) -> list[Range]:
    """The source range of each ``tweet-stats`` result (not the totals ones), by timestamp."""
    ranges = []
    for message in results:
        covered = _range(message.value())
        if covered is not None:
            ranges.append((message.timestamp()[1], *covered))
    return sorted(ranges)


def latencies_ms(tweets: list, ranges: list[Range]) -> list[tuple[int, int]]:
    """For each tweet: its timestamp, and the first covering result's timestamp minus it."""
    tweet_ms = {(m.partition(), m.offset()): m.timestamp()[1] for m in tweets}
    first_seen: dict[tuple[int, int], int] = {}
    for stamp, partition, first, last in ranges:
        for offset in range(first, last + 1):
            first_seen.setdefault((partition, offset), stamp)
    return [
        (stamp, first_seen[key] - stamp) for key, stamp in tweet_ms.items() if key in first_seen
    ]


def _range(value: bytes) -> tuple[int, int, int] | None:
    result = json.loads(value)
    if not isinstance(result, dict) or "partition" not in result:
        return None
    return result["partition"], result["first_offset"], result["last_offset"]


def read_per_second(ranges: list[Range], start_ms: float, seconds: int) -> list[dict[int, int]]:
    """Tweets each partition's results newly covered in each whole second from ``start_ms``
    (what the workers read and published; partial results come every 0.2 s)."""
    reached: dict[int, int] = {}  # partition -> offsets covered so far (last + 1)
    counts: list[dict[int, int]] = [collections.Counter() for _ in range(seconds)]
    for stamp, partition, first, last in ranges:
        before = reached.get(partition, first)
        reached[partition] = max(before, last + 1)
        k = int((stamp - start_ms) // 1000)
        if 0 <= k < seconds and last + 1 > before:
            counts[k][partition] += last + 1 - before
    return counts


def p99_per_second(latency: list[tuple[int, int]], start_ms: float, seconds: int) -> list[int]:
    """The p99 tweet-to-result latency (ms) of the tweets produced in each whole second from
    ``start_ms``; 0 for a second without tweets."""
    by_second: list[list[int]] = [[] for _ in range(seconds)]
    for stamp, ms in latency:
        k = int((stamp - start_ms) // 1000)
        if 0 <= k < seconds:
            by_second[k].append(ms)
    return [sorted(ms)[int(len(ms) * 0.99)] if ms else 0 for ms in by_second]


def quantiles(latencies: list[int]) -> str:
    """``p50 .. ms, p99 .. ms (n tweets)``; too few tweets to tell is said so."""
    if len(latencies) < 2:
        return f"unknown ({len(latencies)} tweets)"
    cuts = statistics.quantiles(latencies, n=100)
    return f"p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms ({len(latencies):,} tweets)"


def trace_headers_us(results: int = 20_000) -> float:  # 2 * results fit librdkafka's queue
    """Worker CPU in microseconds that the trace headers add to one result: building them and
    producing with them, less producing without, on a worker whose producer only queues
    (nothing listens on port 1), best of three."""
    worker = Worker(0, "127.0.0.1:1", "bench", TWEETS_TOPIC, STATS_TOPIC, "bench-dlq", {})
    worker.last_record[0] = time.monotonic()
    value = b"x" * 600  # about a result's size
    extra = []
    try:
        for _ in range(3):
            started = time.process_time()
            for _ in range(results):
                worker.producer.produce(STATS_TOPIC, value, b"0")
            plain = time.process_time() - started
            started = time.process_time()
            for _ in range(results):
                worker.producer.produce(STATS_TOPIC, value, b"0", headers=worker._result_headers(0))
            extra.append((time.process_time() - started - plain) / results * 1e6)
            worker.producer.purge()
            worker.producer.poll(0)  # serves the purged messages' reports
    finally:
        worker.consumer.close()
    return min(extra)


@contextlib.contextmanager
def single_node(work: Path) -> Iterator[Setup]:
    """One bundled broker, RF 1 (the topics auto-created as the services first use them)."""
    broker = BrokerProcess(work / "data", work / "broker.log").start()
    assert broker.proc is not None
    try:
        yield broker.bootstrap, lambda: -1, {"broker": broker.proc.pid}
    finally:
        broker.stop()


@contextlib.contextmanager
def three_nodes(work: Path) -> Iterator[Setup]:
    """Three bundled nodes, all controllers, the topics as ``chirpstream up`` makes them
    (``tweets`` RF 3 with min.insync.replicas=2); the kill takes down the broker leading the
    most ``tweets`` partitions."""
    cluster = Cluster(work / "cluster", brokers=3, controllers=3).start()
    replicas, config = topic_settings(3)
    for topic, partitions in TOPICS:
        ensure_topic(
            cluster.bootstrap,
            topic,
            partitions,
            replication_factor=replicas,
            config=config if topic == TWEETS_TOPIC else {},
        )

    def kill() -> int:
        leaders = [cluster.leader(TWEETS_TOPIC, p) for p in range(TWEETS_PARTITIONS)]
        victim = collections.Counter(leaders).most_common(1)[0][0]
        cluster.kill(victim)
        return victim

    try:
        pids = {f"broker {node.node_id}": node.proc.pid for node in cluster.nodes if node.proc}
        yield cluster.bootstrap, kill, pids
    finally:
        cluster.stop()


def measure(
    name: str,
    setup: Callable[[Path], contextlib.AbstractContextManager[Setup]],
    rate: int,
    seconds: float,
    workers: int,
) -> None:
    """Run the pipeline on ``setup``'s brokers, kill one halfway through the window (if it
    has one to kill), and print the figures."""
    with (
        tempfile.TemporaryDirectory(prefix="chirpstream-pipeline-") as folder,
        setup(Path(folder)) as (bootstrap, kill, broker_pids),
    ):
        started = [
            subprocess.Popen(
                service("consumers", bootstrap, "--workers", str(workers)),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            ),
            subprocess.Popen(
                service("ingest", bootstrap, "--rate", str(rate), "--seed", "1"),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            ),
        ]
        outputs = [Lines(process.stdout) for process in started]
        for output in outputs:
            output.start()
        reader = Reader(bootstrap)
        sampler = CommitSampler(bootstrap, ANALYTICS_GROUP)
        try:
            time.sleep(WARM_UP_S)
            sampler.start()
            pids = {"ingest": started[1].pid, **broker_pids}
            pids |= {f"worker {k}": pid for k, pid in enumerate(children(started[0].pid))}
            t0, t0_ms, high_before = time.monotonic(), time.time() * 1000, reader.high_watermarks()
            done_before, cpu_before = reader.committed(ANALYTICS_GROUP), cpu_seconds(pids)
            time.sleep(seconds / 2)
            cpu_after, high_at_kill = cpu_seconds(pids), reader.high_watermarks()
            killed_at, killed_ms, killed = time.monotonic(), time.time() * 1000, kill()
            time.sleep(seconds / 2)
            t1, high_after = time.monotonic(), reader.high_watermarks()
            done_after = reader.committed(ANALYTICS_GROUP)
            samples = sampler.stop()
            for process in reversed(started):  # ingest first, then let the workers finish
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            for output in outputs:
                output.join(10)
            tweets = reader.read(
                [
                    TopicPartition(TWEETS_TOPIC, p, OFFSET_BEGINNING)
                    for p in range(TWEETS_PARTITIONS)
                ],
                until=reader.high_watermarks(),
            )
            results = reader.read([TopicPartition(STATS_TOPIC, 0, OFFSET_BEGINNING)], until=10**9)
        finally:
            sampler.stop()
            reader.close()
            for process in started:
                if process.poll() is None:
                    process.kill()
    folded = StatsFolder()
    for message in results:
        folded.add(message.value())
    ranges = result_ranges(results)
    # The warm-up (the group joining, then reading what ingest wrote meanwhile) is left out.
    latency = [(stamp, ms) for stamp, ms in latencies_ms(tweets, ranges) if stamp >= t0_ms]
    window = t1 - t0
    print(f"pipeline on {name}: simulated tweets at {rate:,}/s, {workers} analytics workers")
    print(f"  produced   {(high_after - high_before) / window:9,.0f} tweets/s over {window:.0f} s")
    print(f"  committed  {(done_after - done_before) / window:9,.0f} tweets/s by the workers")
    lag = (high_before - done_before, high_after - done_after)
    print(f"  lag        {lag[0]:9,} at the start, {lag[1]:,} at the end")
    print(f"  folded     {folded.totals.tweets:9,} of {len(tweets):,} tweets after the stop")
    thousands = max(high_at_kill - high_before, 1) / 1000
    print(
        "  CPU ms per 1,000 tweets produced (before the kill): "
        + ", ".join(
            f"{name} {(cpu_after[name] - cpu_before[name]) * 1000 / thousands:.0f}"
            for name in pids
            if name in cpu_before and name in cpu_after
        )
    )
    worker_cpu = sum(
        cpu_after[name] - cpu_before[name]
        for name in pids
        if name.startswith("worker") and name in cpu_before and name in cpu_after
    )
    per_tweet_us = worker_cpu * 1e6 / max(high_at_kill - high_before, 1)
    results_per_tweet = len(results) / max(len(tweets), 1)
    header_us = trace_headers_us()
    print(
        f"  trace headers: {results_per_tweet * 1000:.1f} results per 1,000 tweets, "
        f"{header_us:.1f} us of worker CPU each: {results_per_tweet * header_us:.3f} us per tweet, "
        f"{results_per_tweet * header_us / per_tweet_us:.2%} of the workers' {per_tweet_us:.0f} us"
    )
    if killed < 0:
        print(f"  tweet-to-result latency {quantiles([ms for _, ms in latency])}")
        return
    delivered = outputs[1].delivered()
    rate_before = committed_rate(samples, t0, killed_at) or 0.0
    acked_before = committed_rate(delivered, t0, killed_at) or 0.0
    print(
        f"  broker {killed} (leading the most tweets partitions) SIGKILLed at {seconds / 2:.0f} s;"
        f" before it acked/s {acked_before:,.0f}, committed/s {rate_before:,.0f}"
    )
    changes = outputs[0].assignments()
    owners = {worker: partitions for t, worker, partitions in changes if t <= killed_at}
    print("  partitions at the kill: " + ", ".join(f"{w} {p}" for w, p in sorted(owners.items())))
    for t, worker, partitions in changes:
        if t > killed_at:
            print(f"    {t - killed_at:.1f} s after it, {worker}: partitions {partitions}")
    print_flow(
        killed_ms,
        int(seconds / 2),
        {
            "acked/s": per_second(delivered, killed_at, int(seconds / 2), reach=1.0),
            "committed/s": per_second(samples, killed_at, int(seconds / 2)),
        },
        ranges,
        latency,
    )
    recovered = [
        recovery_s(delivered, killed_at, acked_before),
        recovery_s(samples, killed_at, rate_before),
    ]
    if None in recovered:
        print(
            f"  failover window: acked/s or committed/s never got back to {RECOVERED_SHARE:.0%}"
            " of its rate before the kill"
        )
        window_end_ms = time.time() * 1000
    else:
        print(
            f"  failover window {max(recovered):.1f} s: from the kill until acked/s (back at "
            f"{recovered[0]:.1f} s) and committed/s (at {recovered[1]:.1f} s), each over "
            f"{RATE_WINDOW_S:.0f} s, were both back to {RECOVERED_SHARE:.0%} of their rates "
            "before it"
        )
        window_end_ms = killed_ms + max(recovered) * 1000
    before = [ms for stamp, ms in latency if stamp < killed_ms]
    after = [ms for stamp, ms in latency if stamp > window_end_ms]
    print(f"  tweet-to-result latency outside it {quantiles(before + after)}")
    print(f"    (before the kill {quantiles(before)}; after the window {quantiles(after)})")
    late = [stamp for stamp, ms in latency if stamp >= killed_ms and ms > SLOW_MS]
    if late:
        print(
            f"  results more than {SLOW_MS} ms late for tweets produced until "
            f"{(max(late) - killed_ms) / 1000:.1f} s after the kill"
        )


def print_flow(
    killed_ms: float,
    seconds: int,
    rates: dict[str, list[float | None]],
    ranges: list[Range],
    latency: list[tuple[int, int]],
) -> None:
    """Each second from the kill: the sampled rates, the results published, the tweets the
    workers read (by partition), and the p99 latency of the tweets produced in that second."""
    read = read_per_second(ranges, killed_ms, seconds)
    results = collections.Counter(int((stamp - killed_ms) // 1000) for stamp, *_ in ranges)
    p99 = p99_per_second(latency, killed_ms, seconds)
    partitions = range(TWEETS_PARTITIONS)
    print(
        "  second " + "".join(f"{name:>13}" for name in rates) + "   results"
        f"  read/s by partition {' '.join(f'{p:>6}' for p in partitions)}  p99 ms of its tweets"
    )
    for k in range(seconds):
        shown = "".join(f"{'?':>13}" if r[k] is None else f"{r[k]:13,.0f}" for r in rates.values())
        by_partition = " ".join(f"{read[k][p]:6,}" for p in partitions)
        print(
            f"  {k:6}{shown} {results[k]:9,}  {sum(read[k].values()):18,}"
            f" {by_partition}  {p99[k]:8,}"
        )


def main(rate: int, seconds: float, workers: int, three_only: bool = False) -> None:
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    if three_only:
        print(f"{os.cpu_count()} cores, load average {load}; on three nodes with RF 3")
    else:
        print(f"{os.cpu_count()} cores, load average {load}; the same rate on one node with RF 1,")
        print("then on three with RF 3")
        measure("1 node, RF 1", single_node, rate, seconds, workers)
    measure("3 nodes, RF 3, min.insync.replicas 2", three_nodes, rate, seconds, workers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline")
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--three-nodes-only", action="store_true", help="leave out the run on one node"
    )
    args = parser.parse_args()
    main(args.rate, args.seconds, args.workers, args.three_nodes_only)
