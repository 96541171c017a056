"""The ingest service against a broker subprocess: counts, keys, ordering, shutdown, errors."""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ingest.publisher import Publisher
from tests.support.broker_process import ROOT
from tests.support.commands import service


def ingest(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_topic(bootstrap: str, topic: str = "tweets", partitions: int = 6) -> list:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False}
    )
    ends = [
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        for p in range(partitions)
    ]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    records = []
    try:
        while len(records) < sum(ends):
            msg = consumer.poll(10)
            assert msg is not None, f"timed out after {len(records)} of {sum(ends)}"
            assert msg.error() is None
            records.append((msg.partition(), msg.offset(), msg.key(), json.loads(msg.value())))
    finally:
        consumer.close()
    return records


def test_n_simulated_tweets_make_n_records_keyed_by_author(broker):
    done = ingest(
        "--bootstrap-servers", broker.bootstrap, "--rate", "max", "--limit", "5000", "--seed", "7"
    )
    assert done.returncode == 0, done.stderr
    assert "READY ingest source=simulate" in done.stdout
    assert "done, sent 5000, delivered 5000, errors 0" in done.stdout
    records = read_topic(broker.bootstrap)
    assert len(records) == 5000
    assert len({r[3]["data"]["id"] for r in records}) == 5000
    partitions_of = defaultdict(set)
    per_author = defaultdict(list)
    for partition, _offset, key, envelope in sorted(records, key=lambda r: (r[0], r[1])):
        author = envelope["data"]["author_id"]
        assert key == author.encode()
        partitions_of[author].add(partition)
        per_author[author].append(int(envelope["data"]["id"]))
    assert all(len(parts) == 1 for parts in partitions_of.values()), "an author on two partitions"
    assert all(ids == sorted(ids) for ids in per_author.values()), "an author out of order"
    assert len({p for parts in partitions_of.values() for p in parts}) == 6


def test_replay_of_the_sample_file_publishes_every_line(broker):
    sample = ROOT / "data" / "sample_tweets.jsonl"
    lines = sample.read_bytes().splitlines()
    done = ingest("--bootstrap-servers", broker.bootstrap, "--source", "replay", "--speed", "max")
    assert done.returncode == 0, done.stderr
    records = read_topic(broker.bootstrap)
    assert sorted(json.dumps(r[3], sort_keys=True) for r in records) == sorted(
        json.dumps(json.loads(line), sort_keys=True) for line in lines
    )


def test_record_then_replay_gives_the_same_tweets(broker, tmp_path):
    recording = tmp_path / "run.jsonl"
    first = ingest(
        "--bootstrap-servers",
        broker.bootstrap,
        "--topic",
        "a",
        "--rate",
        "max",
        "--limit",
        "300",
        "--seed",
        "3",
        "--record",
        str(recording),
    )
    assert first.returncode == 0, first.stderr
    second = ingest(
        "--bootstrap-servers",
        broker.bootstrap,
        "--topic",
        "b",
        "--source",
        "replay",
        "--file",
        str(recording),
        "--speed",
        "max",
    )
    assert second.returncode == 0, second.stderr
    values = [sorted(json.dumps(r[3]) for r in read_topic(broker.bootstrap, t)) for t in "ab"]
    assert len(values[0]) == 300
    assert values[0] == values[1]


def test_a_seeded_run_is_byte_for_byte_repeatable_ids_and_timestamps_included(broker, tmp_path):
    runs = [tmp_path / "first.jsonl", tmp_path / "second.jsonl"]
    for record in runs:
        done = ingest("--bootstrap-servers", broker.bootstrap, "--seed", "7", "--rate", "max",
                      "--limit", "200", "--record", str(record))  # fmt: skip
        assert done.returncode == 0, done.stderr
        time.sleep(0.01)  # a new millisecond, so an origin taken from the clock would differ
    first, second = (record.read_bytes() for record in runs)
    assert first.count(b"\n") == 200
    assert first == second


def test_sigterm_flushes_and_exits_zero_with_progress_lines(broker):
    proc = subprocess.Popen(
        [
            *service("ingest", broker.bootstrap),
            "--rate",
            "400",
            "--seed",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith("READY ingest")
    progress = [proc.stdout.readline() for _ in range(3)]  # one a second
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert all(line.startswith("ingest:") and "tweets/s" in line for line in progress)
    summary = next(line for line in out.splitlines() if "done, sent" in line)
    sent = int(summary.split("sent ")[1].split(",")[0])
    assert sent > 0
    assert f"delivered {sent}, errors 0" in summary
    assert len(read_topic(broker.bootstrap)) == sent


def test_unreachable_broker_is_one_clear_line(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    done = ingest("--bootstrap-servers", f"127.0.0.1:{port}", "--limit", "1", timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach Kafka" in errors[0], done.stderr
    assert done.stderr.splitlines() == errors, "librdkafka's own lines flood the terminal"


def test_a_broker_that_stays_down_is_one_log_line_not_one_per_retry(capfd, caplog):
    """librdkafka retries about once a second and logs each failure; one line is enough."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    publisher = Publisher(f"127.0.0.1:{port}", "tweets")
    with caplog.at_level(logging.INFO):
        deadline = time.monotonic() + 4.5  # long enough for four retries
        while time.monotonic() < deadline:
            publisher.poll(0.1)
    logged = [r.getMessage() for r in caplog.records if "Connection refused" in r.getMessage()]
    printed = [line for line in capfd.readouterr().err.splitlines() if "Connection refused" in line]
    assert printed == [], "librdkafka writes to stderr itself instead of through logging"
    assert len(logged) == 1, logged


def test_live_source_without_a_token_says_what_to_do(broker, monkeypatch):
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    done = ingest("--bootstrap-servers", broker.bootstrap, "--source", "x-poll")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "X_BEARER_TOKEN" in done.stderr
