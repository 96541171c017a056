"""Log compaction through a real broker and a real client: confluent-kafka reads a compacted
topic from offset 0 and finds the latest value of every key at the offset it was written to;
and a SIGKILL at each of the cleaner's fault points (``CHIRPSTREAM_FAULTS``: inside the
cleaner process while it writes, and at both steps of the swap) leaves a log that loads with
every latest value present, which the restarted broker then compacts."""

from __future__ import annotations

import signal

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from broker.storage.faults import CLEANER_POINTS, ENV
from tests.support.confluent import produce, watermarks
from tests.support.messages import Delivered
from tests.support.waiting import eventually
from tests.support.workload import create_topic

TOPIC = "latest"
KEYS = 40
ROUNDS = 25
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
}
CLEANED = "cleaned offsets"  # the cleaner's line after a pass is swapped in
# What the restart says it found, at each point.
AT_LOAD = {
    "clean-write": "left by an interrupted log cleaning",
    "clean-swap": "completed an interrupted log cleaning",
    "clean-replace": "completed an interrupted log cleaning",
}


def fill(bootstrap: str) -> dict[int, tuple[bytes, bytes]]:
    """Write KEYS keys ROUNDS times; return what each offset holds."""
    create_topic(bootstrap, TOPIC, 1, **TOPIC_CONFIG)
    messages = [(b"k%d" % k, b"v%d-%d" % (k, r)) for r in range(ROUNDS) for k in range(KEYS)]
    delivered = produce(bootstrap, TOPIC, messages, **{"batch.num.messages": 10})
    return {d.offset: (d.key, d.value) for d in delivered}


def read_from_zero(bootstrap: str) -> list[Delivered]:
    """Every record a consumer reads from offset 0 up to the high watermark."""
    ((_, high),) = watermarks(bootstrap, TOPIC, 1)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compacted-reader"})
    consumer.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    read: list[Delivered] = []
    try:
        while not read or read[-1].offset < high - 1:
            msg = consumer.poll(10)
            assert msg is not None, f"timed out at {read[-1:]} before offset {high - 1}"
            assert msg.error() is None, msg.error()
            read.append(Delivered(msg.partition(), msg.offset(), msg.key(), msg.value()))
    finally:
        consumer.close()
    return read


def check_latest(read: list[Delivered], written: dict[int, tuple[bytes, bytes]]) -> None:
    offsets = [d.offset for d in read]
    assert offsets == sorted(set(offsets)), "offsets must strictly increase"
    for d in read:
        assert written[d.offset] == (d.key, d.value), f"offset {d.offset} changed"
    latest = {key: (offset, value) for offset, (key, value) in sorted(written.items())}
    seen = {d.key: (d.offset, d.value) for d in read}
    assert seen == latest, "a latest value is missing"


def test_a_real_client_reads_the_latest_value_of_each_key_from_a_compacted_topic(
    broker_factory,
):
    broker = broker_factory(config={"log.cleaner.backoff.ms": "200"})
    written = fill(broker.bootstrap)
    eventually(lambda: CLEANED in broker.read_log(), "a cleaning pass", timeout=60)
    read = read_from_zero(broker.bootstrap)
    check_latest(read, written)
    assert len(read) < len(written), "nothing was compacted away"


@pytest.mark.parametrize("point", CLEANER_POINTS)
def test_a_sigkill_during_cleaning_loses_no_latest_value(broker_factory, monkeypatch, point):
    broker = broker_factory(config={"log.cleaner.enable": "false"})
    written = fill(broker.bootstrap)
    broker.term()
    broker.config.update({"log.cleaner.enable": "true", "log.cleaner.backoff.ms": "200"})
    monkeypatch.setenv(ENV, point)
    broker.launch()

    assert broker.wait(60) == -signal.SIGKILL
    assert f"FAULT {point}: killing the broker" in broker.read_log()
    monkeypatch.delenv(ENV)
    broker.start()
    assert AT_LOAD[point] in broker.read_log()
    check_latest(read_from_zero(broker.bootstrap), written)
    eventually(lambda: CLEANED in broker.read_log(), "a pass after the restart", timeout=60)
    read = read_from_zero(broker.bootstrap)
    check_latest(read, written)
    assert len(read) < len(written), "nothing was compacted away"
