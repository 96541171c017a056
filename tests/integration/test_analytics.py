"""Analytics workers against a broker subprocess: exact folded totals with three workers, with
a worker SIGKILLed midway and another joining late, and with a worker crashing before its
commit (its range read again by the other); partitions moving without stopping the others,
and bad records going to the dead-letter topic."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from chirpstream.kafka import ensure_topic
from chirpstream.settings import TWEETS_PARTITIONS, TWEETS_TOPIC
from consumers import crash
from consumers.crash import parse_crash_line
from consumers.features import analyze
from consumers.fold import StatsFolder
from ingest.simulate import DEFAULT_RATE, simulated_envelopes
from tests.support.broker_process import ROOT
from tests.support.commands import service, simulated_ingest
from tests.support.group_reads import described_group
from tests.support.stats import fold_until

GROUP_BROKER = {"group.min.session.timeout.ms": "1000"}
FAST_WORKER = ["-X", "session.timeout.ms=2000", "-X", "heartbeat.interval.ms=300"]


def ingest(bootstrap: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        service("ingest", bootstrap, *args),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def worker(bootstrap: str, worker_id: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            service("consumers.worker", bootstrap, "--id", str(worker_id), *FAST_WORKER),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def expected_counts(seed: int, count: int, rate: float | None) -> tuple[Counter, Counter]:
    """Language and hashtag counts of the first ``count`` tweets of an ingest run, computed
    straight from the simulator. Its content depends on the seed and the rate (bursts live
    in simulated time; ``--rate max`` simulates the default rate), not on the start time."""
    languages: Counter = Counter()
    hashtags: Counter = Counter()
    stream = simulated_envelopes(seed, 1_700_000_000_000, DEFAULT_RATE if rate is None else rate)
    for envelope in itertools.islice(stream, count):
        features = analyze(envelope.raw)
        languages[features.lang] += 1
        hashtags.update(features.hashtags)
    return languages, hashtags


def assert_exact(folder: StatsFolder, seed: int, count: int, rate: float | None) -> None:
    assert folder.totals.tweets == count
    assert folder.overlaps == 0
    languages, hashtags = expected_counts(seed, count, rate)
    assert folder.totals.languages == languages
    assert folder.totals.hashtags == hashtags


def test_three_workers_fold_to_exact_totals(broker_factory, tmp_path):
    broker = broker_factory(config=GROUP_BROKER)
    produced = subprocess.Popen(
        simulated_ingest(broker.bootstrap, 20000, 11),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert produced.wait(120) == 0, produced.stderr.read()
    launcher = subprocess.Popen(
        service("consumers", broker.bootstrap, "--workers", "3", *FAST_WORKER),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        folder = fold_until(broker.bootstrap, lambda f: f.totals.tweets >= 20000, 120)
    finally:
        launcher.send_signal(signal.SIGTERM)
        output = launcher.communicate(timeout=60)[0]
    assert launcher.returncode == 0, output
    assert "READY analytics workers=3" in output
    assert_exact(folder, 11, 20000, None)


def test_a_killed_worker_and_a_late_one_keep_totals_exact(broker_factory, tmp_path):
    broker = broker_factory(config=GROUP_BROKER)
    producing = ingest(broker.bootstrap, "--rate", "2500", "--limit", "20000", "--seed", "5")
    logs = [tmp_path / f"w{i}.log" for i in range(3)]
    workers = [worker(broker.bootstrap, i, logs[i]) for i in range(2)]
    try:
        time.sleep(3)
        workers[0].send_signal(signal.SIGKILL)  # midway: results published, commits pending
        workers[0].wait(10)
        time.sleep(2)
        workers.append(worker(broker.bootstrap, 2, logs[2]))
        assert producing.wait(120) == 0, producing.stderr.read()
        folder = fold_until(broker.bootstrap, lambda f: f.totals.tweets >= 20000, 120)
    finally:
        stop_workers(workers, logs)
    assert_exact(folder, 5, 20000, 2500)
    assert folder.duplicates + folder.superseded > 0, "the kill left nothing to deduplicate"


def test_adding_a_worker_moves_partitions_without_stopping_the_others(broker_factory, tmp_path):
    broker = broker_factory(config=GROUP_BROKER)
    producing = ingest(broker.bootstrap, "--rate", "300", "--seed", "3")
    logs = [tmp_path / f"w{i}.log" for i in range(3)]
    workers = [worker(broker.bootstrap, i, logs[i]) for i in range(2)]
    try:
        wait_for_lines(
            logs[:2],
            lambda lines: any("partitions [" in line and "[]" not in line for line in lines),
            60,
        )
        time.sleep(2)
        settled = [len(log.read_text().splitlines()) for log in logs[:2]]
        workers.append(worker(broker.bootstrap, 2, logs[2]))
        owned = wait_for_lines(logs, lambda lines: owns_something(lines), 60)
        time.sleep(3)
        final = [current_partitions(log.read_text().splitlines()) for log in logs]
        after = [
            log.read_text().splitlines()[start:] for log, start in zip(logs, settled, strict=False)
        ]
    finally:
        stop_workers(workers, logs)
        producing.terminate()
        producing.wait(30)
    assert sorted(p for parts in final for p in parts) == list(range(6)), final
    assert all(owned), owned
    for lines in after:
        # Cooperative rebalancing: the old members give up only what moves, never all.
        assert not any(line.endswith("partitions []") for line in lines), lines


def stop_workers(workers: list[subprocess.Popen], logs: list[Path]) -> None:
    """SIGTERM every worker still running and wait for each; one that does not stop is
    killed, and the test fails with its output (where it was stuck: see consumers.worker)."""
    running = [(p, log) for p, log in zip(workers, logs, strict=False) if p.poll() is None]
    for process, _ in running:
        process.terminate()
    stuck = []
    for process, log in running:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            stuck.append(f"{log.name}:\n{log.read_text()[-4000:]}")
    assert not stuck, "workers did not stop on SIGTERM:\n" + "\n".join(stuck)


def current_partitions(lines: list[str]) -> list[int]:
    owned: list[int] = []
    for line in lines:
        if ": partitions [" in line:
            inside = line.split("partitions [", 1)[1].split("]", 1)[0]
            owned = [int(p) for p in inside.split(",") if p.strip()]
    return owned


def owns_something(lines: list[str]) -> bool:
    return bool(current_partitions(lines))


def wait_for_lines(logs: list[Path], check: Callable[[list[str]], bool], timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        results = [check(log.read_text().splitlines()) if log.exists() else False for log in logs]
        if all(results):
            return results
        time.sleep(0.2)
    raise AssertionError(f"timed out; logs: {[log.read_text() for log in logs]}")


def test_bad_records_go_to_the_dead_letter_topic(broker_factory, tmp_path):
    broker = broker_factory(config=GROUP_BROKER)
    produced = ingest(broker.bootstrap, "--rate", "max", "--limit", "300", "--seed", "2")
    assert produced.wait(60) == 0, produced.stderr.read()
    bad = [b"not json at all", b'{"data": {"id": "1"}}', b'{"no": "data"}']
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for number, value in enumerate(bad):
        producer.produce("tweets", value, partition=number)
    producer.flush(10)
    workers = [worker(broker.bootstrap, 0, tmp_path / "w0.log")]
    try:
        folder = fold_until(
            broker.bootstrap, lambda f: f.totals.tweets >= 300 and f.totals.malformed >= 3, 60
        )
    finally:
        workers[0].terminate()
        workers[0].wait(30)
    assert (folder.totals.tweets, folder.totals.malformed) == (300, 3)
    assert_exact(folder, 2, 300, None)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "dlq-reader"})
    consumer.assign([TopicPartition("tweets-dlq", 0, OFFSET_BEGINNING)])
    dead = [m for m in consumer.consume(10, timeout=10) if m.error() is None]
    consumer.close()
    assert sorted(m.value() for m in dead) == sorted(bad)
    for message in dead:
        headers = dict(message.headers())
        assert headers["source.partition"] in (b"0", b"1", b"2")
        assert headers["error"]
    log = (tmp_path / "w0.log").read_text()
    assert log.count("skipped malformed record") == 3


def test_two_launchers_give_their_workers_different_client_ids(broker_factory):
    broker = broker_factory(config=GROUP_BROKER)
    launchers = [
        subprocess.Popen(
            service("consumers", broker.bootstrap, "--workers", "1", *FAST_WORKER),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        members: list = []
        while len(members) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            members = described_group(broker.bootstrap, "analytics").members
    finally:
        for launcher in launchers:
            launcher.terminate()
            launcher.wait(30)
    ids = sorted(member.client_id for member in members)
    assert len(ids) == 2 and ids[0] != ids[1], ids
    assert all(len(client) <= 24 for client in ids), ids  # short enough for a table column


def high_watermarks(bootstrap: str) -> list[int]:
    """The high watermark of each of the six ``tweets`` partitions."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        partitions = [TopicPartition("tweets", p) for p in range(6)]
        return [reader.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
    finally:
        reader.close()


def group_lag(bootstrap: str) -> int:
    """High watermarks minus the ``analytics`` group's commits, over the six partitions."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "analytics"})
    try:
        partitions = [TopicPartition("tweets", p) for p in range(6)]
        committed = reader.committed(partitions, timeout=10)
        ends = [reader.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
    finally:
        reader.close()
    return sum(end - max(tp.offset, 0) for tp, end in zip(committed, ends, strict=True))


def wait_for_no_lag(bootstrap: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (lag := group_lag(bootstrap)) > 0:
        assert time.monotonic() < deadline, f"lag stays at {lag} once the stream has stopped"
        time.sleep(0.5)


def test_when_the_stream_stops_lag_reaches_zero_and_totals_stay_exact(broker_factory):
    broker = broker_factory(config=GROUP_BROKER)
    launcher = subprocess.Popen(
        service("consumers", broker.bootstrap, "--workers", "1", *FAST_WORKER),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        for seed in (21, 22):  # the stream stops, then resumes where the closed runs ended
            batch = ["--rate", "max", "--limit", "300", "--seed", str(seed)]
            produced = ingest(broker.bootstrap, *batch)
            assert produced.wait(60) == 0, produced.stderr.read()
            wait_for_no_lag(broker.bootstrap, 30)
        folder = fold_until(broker.bootstrap, lambda f: f.totals.tweets >= 600, 30)
    finally:
        launcher.terminate()
        launcher.wait(30)
    assert (folder.totals.tweets, folder.overlaps, folder.invalid) == (600, 0, 0)


def results_after(bootstrap: str, at_ms: int) -> list[dict]:
    """The ``tweet-stats`` results produced after ``at_ms`` (their record timestamps)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "results-reader"})
    consumer.assign([TopicPartition("tweet-stats", 0, OFFSET_BEGINNING)])
    results = []
    try:
        while batch := consumer.consume(1000, timeout=1.0):
            results += [
                json.loads(m.value())
                for m in batch
                if m.error() is None and m.timestamp()[1] > at_ms
            ]
    finally:
        consumer.close()
    return results


def stream_tweets(bootstrap: str, seed: int, rate: float, stop: threading.Event) -> None:
    """The simulator's tweets (keyed by author, as ingest keys them) at ``rate`` a second
    until ``stop``; in this process, so no ingest process has to start first."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    started = time.monotonic()
    stream = simulated_envelopes(seed, 1_700_000_000_000, rate)
    for sent, envelope in enumerate(stream, 1):
        if stop.is_set():
            break
        producer.produce("tweets", envelope.raw, envelope.author_id.encode())
        producer.poll(0)
        time.sleep(max(0.0, sent / rate - (time.monotonic() - started)))
    producer.flush(30)


def test_a_crash_before_commit_is_read_again_by_another_member_and_counted_once(
    broker_factory, tmp_path
):
    broker = broker_factory(config=GROUP_BROKER)
    ensure_topic(broker.bootstrap, TWEETS_TOPIC, TWEETS_PARTITIONS, {})
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    # An endless stream, so worker 0 always has processed records it has not committed yet.
    stop = threading.Event()
    producing = threading.Thread(target=stream_tweets, args=(broker.bootstrap, 7, 1500, stop))
    producing.start()
    workers = [worker(broker.bootstrap, i, logs[i]) for i in range(2)]
    try:
        wait_for_lines(logs[:1], owns_something, 60)  # worker 1 joins meanwhile, or after
        time.sleep(1)  # worker 0 processes and commits; it takes the fault once it has more
        workers[0].send_signal(signal.SIGUSR1)
        assert workers[0].wait(30) == crash.EXIT_CODE, logs[0].read_text()
        reports = [parse_crash_line(line) for line in logs[0].read_text().splitlines()]
        crashed = next(report for report in reports if report is not None)
        stop.set()
        producing.join(60)
        produced = sum(high_watermarks(broker.bootstrap))  # every tweet the broker holds
        folder = fold_until(broker.bootstrap, lambda f: f.totals.tweets >= produced, 60)
    finally:
        stop.set()
        producing.join(60)
        stop_workers(workers, logs)
    assert crashed.ranges, "the crash line names no uncommitted range"
    assert crashed.client_id.startswith("analytics-0-")
    again = results_after(broker.bootstrap, crashed.at_ms)
    for uncommitted in crashed.ranges:
        # Worker 1 starts at the uncommitted range's first offset and republishes through it.
        mine = [r for r in again if r["partition"] == uncommitted.partition]
        assert any(r["first_offset"] == uncommitted.first for r in mine), (uncommitted, mine)
        assert max(r["last_offset"] for r in mine) >= uncommitted.last, (uncommitted, mine)
    assert_exact(folder, 7, produced, 1500)
