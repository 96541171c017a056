"""Helpers for the one-partition disk-fault tests: a broker on the faulty disk, one produce
at a time, a full read-back, waiting for a log line."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from tests.support.broker_process import BrokerProcess


@contextlib.contextmanager
def broker_on(disk: Path, tmp_path: Path, request) -> Iterator[BrokerProcess]:
    """A broker whose data directory lies on ``disk`` (its log does not), stopped before the
    disk goes away."""
    broker = BrokerProcess(
        disk / "data", tmp_path / "broker.log", config={"offsets.topic.num.partitions": "1"}
    )
    request.node.brokers = [broker]  # the log is shown when the test fails
    try:
        yield broker.start()
    finally:
        broker.stop()


def wait_for_log(broker: BrokerProcess, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in broker.read_log():
        assert time.monotonic() < deadline, f"the broker never logged {text!r}"
        time.sleep(0.05)


def read_values(bootstrap: str, topic: str) -> list[tuple[int, bytes]]:
    """``(offset, value)`` of every record of partition 0, from the beginning."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "read-back", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    found: list[tuple[int, bytes]] = []
    try:
        while len(found) < high:
            msg = consumer.poll(10)
            assert msg is not None, f"read {len(found)} of {high} records"
            assert msg.error() is None, msg.error()
            found.append((msg.offset(), msg.value()))
    finally:
        consumer.close()
    return found


def produce_one(producer: Producer, topic: str, value: bytes) -> tuple[KafkaError | None, int]:
    """Send one record and wait for its delivery report: ``(error or None, offset)``."""
    outcome: list[tuple[KafkaError | None, int]] = []
    producer.produce(topic, value, on_delivery=lambda err, msg: outcome.append((err, msg.offset())))
    producer.flush(30)
    assert outcome, "no delivery report within 30 s"
    return outcome[0]
