"""A full disk (a small tmpfs, filled) under a real broker and real confluent-kafka clients.

A full disk may refuse an index write after the ``.log`` write went through: the append must
then leave nothing behind, so an idempotent producer's retry is stored once. Every produce the
disk refuses answers KAFKA_STORAGE_ERROR, the broker says so once (and once more when space is
back), reads go on, and a stop on the full disk says what is wrong. Needs root to mount.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from tests.reliability.clients import broker_on, produce_one, read_values, wait_for_log
from tests.support.disk import fill, require_root, small_tmpfs
from tests.support.workload import PRODUCER_CONFIG, create_topic

PAGE = 4096
INDEX_INTERVAL_BYTES = 4096  # Kafka's default index.interval.bytes


@pytest.fixture
def disk(tmp_path) -> Path:
    require_root("the full-disk tests")
    with small_tmpfs(tmp_path / "disk", 4 << 20) as mount_point:
        yield mount_point


@pytest.fixture
def broker(disk, tmp_path, request):
    with broker_on(disk, tmp_path, request) as broker:
        yield broker


def test_an_index_write_refused_by_a_full_disk_does_not_store_the_retry_twice(broker, disk):
    create_topic(broker.bootstrap, "full", 1)
    log_file = disk / "data" / "full-0" / "00000000000000000000.log"
    producer = Producer({"bootstrap.servers": broker.bootstrap, **PRODUCER_CONFIG})
    # Small records until an index entry is due (index.interval.bytes written, none yet) and
    # the .log's last page has room for one more batch: on the full disk that batch's .log
    # write then needs no new page, and the first .index write does.
    n = 0
    while True:
        assert produce_one(producer, "full", b"w%04d" % n + b"." * 100)[0] is None
        n += 1
        size = log_file.stat().st_size
        if size > INDEX_INTERVAL_BYTES and PAGE - size % PAGE >= 400:
            break
    filler = fill(disk)
    outcome: list[tuple[KafkaError | None, int]] = []
    producer.produce(
        "full", b"the-one" + b"." * 100, on_delivery=lambda e, m: outcome.append((e, m.offset()))
    )
    wait_for_log(broker, "No space left on device")
    producer.poll(1.0)  # the producer retries against the full disk meanwhile
    assert outcome == [], "the produce should wait for space, retrying"
    filler.unlink()
    producer.flush(30)
    assert len(outcome) == 1 and outcome[0][0] is None, outcome
    acked_offset = outcome[0][1]
    broker_log = broker.read_log()
    assert broker_log.count("cannot append to full-0: No space left") == 1, "once, not per retry"
    assert "writes work again" in broker_log

    values = read_values(broker.bootstrap, "full")
    copies = Counter(value for _, value in values)
    print(f"stored {len(values)} records; copies of the retried one: {copies[values[-1][1]]}")
    assert [value for value, count in copies.items() if count > 1] == []
    assert values[-1] == (acked_offset, b"the-one" + b"." * 100)
    assert len(values) == n + 1


def storage_error_produce(bootstrap: str, topic: str) -> KafkaError | None:
    """One produce with no retries, big enough to need new pages: its delivery error."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "retries": 0, "linger.ms": 0}
    )
    err, _ = produce_one(producer, topic, b"x" * 20_000)
    return err


def test_a_full_disk_answers_storage_errors_says_so_once_and_keeps_serving_reads(broker, disk):
    create_topic(broker.bootstrap, "full", 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, **PRODUCER_CONFIG})
    for n in range(5):
        assert produce_one(producer, "full", b"before-%d" % n)[0] is None
    filler = fill(disk)

    codes = [storage_error_produce(broker.bootstrap, "full") for _ in range(3)]
    assert [err.code() if err else None for err in codes] == [KafkaError.KAFKA_STORAGE_ERROR] * 3
    assert [value for _, value in read_values(broker.bootstrap, "full")] == [
        b"before-%d" % n for n in range(5)
    ]
    broker_log = broker.read_log()
    assert broker_log.count("No space left on device") == 1
    assert "Traceback" not in broker_log

    filler.unlink()
    assert storage_error_produce(broker.bootstrap, "full") is None
    assert "writes work again" in broker.read_log()


def test_a_stop_on_a_full_disk_says_what_is_wrong_and_loses_nothing(broker, disk):
    create_topic(broker.bootstrap, "full", 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, **PRODUCER_CONFIG})
    for n in range(5):
        assert produce_one(producer, "full", b"kept-%d" % n)[0] is None
    filler = fill(disk)

    code = broker.term()
    broker_log = broker.read_log()
    assert "cannot listen" not in broker_log
    assert "Traceback" not in broker_log
    assert "No space left on device" in broker_log.splitlines()[-1]
    assert code == 1

    filler.unlink()
    broker.start()
    assert [value for _, value in read_values(broker.bootstrap, "full")] == [
        b"kept-%d" % n for n in range(5)
    ]


def test_a_start_on_a_full_disk_that_needs_recovery_names_the_disk(broker, disk):
    create_topic(broker.bootstrap, "full", 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, **PRODUCER_CONFIG})
    for n in range(60):  # enough for index entries, which recovery rebuilds
        assert produce_one(producer, "full", b"kept-%d" % n + b"." * 200)[0] is None
    broker.kill()
    filler = fill(disk)

    with pytest.raises(RuntimeError, match="broker exited with 1"):
        broker.start()
    last_line = broker.read_log().splitlines()[-1]
    assert "cannot listen" not in last_line
    assert "No space left on device" in last_line

    filler.unlink()
    broker.start()
    values = [value for _, value in read_values(broker.bootstrap, "full")]
    assert values == [b"kept-%d" % n + b"." * 200 for n in range(60)]


def test_commits_a_full_disk_refuses_are_reported_once(broker, disk):
    """Offset commits go through the same data directory: the broker says the disk is full
    once, not one ERROR line per refused commit."""
    create_topic(broker.bootstrap, "full", 6)
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "g", "enable.auto.commit": False}
    )
    try:
        consumer.list_topics(timeout=10)
        filler = fill(disk)
        # 6 partitions x 4,000 bytes of metadata: a commit the full disk cannot take.
        offsets = [TopicPartition("full", p, 0, metadata="m" * 4000) for p in range(6)]
        refused = 0
        for _ in range(3):
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException:
                refused += 1
        assert refused == 3, "the full disk should refuse every commit"
        broker_log = broker.read_log()
        assert broker_log.count("No space left on device") == 1, broker_log
        assert "Traceback" not in broker_log
        filler.unlink()
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()
