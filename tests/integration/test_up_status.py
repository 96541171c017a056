"""``up``'s status line against a real broker: the wire reader and the librdkafka child reader
(for TLS/SASL clusters) read the same figures, and the child reader outlives its child's
crash, as ``up`` must outlive librdkafka's."""

from __future__ import annotations

import os
import signal

from confluent_kafka import Producer

from chirpstream.kafka import ensure_topic
from chirpstream.settings import TWEETS_PARTITIONS, TWEETS_TOPIC
from chirpstream.status import ChildReader, Sample, WireReader


def produce(bootstrap: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in range(count):
        producer.produce(TWEETS_TOPIC, key=str(n % 7), value=b"{}")
    assert producer.flush(30) == 0


def test_both_readers_agree_and_the_child_reader_survives_a_segfault(broker):
    ensure_topic(broker.bootstrap, TWEETS_TOPIC, TWEETS_PARTITIONS)
    produce(broker.bootstrap, 30)
    expected = Sample(high=30, committed=0, brokers=1, under_replicated=0)
    wire = WireReader(broker.bootstrap)
    child = ChildReader(broker.bootstrap, {})
    try:
        assert wire.sample() == expected
        assert child.sample() == expected
        os.kill(child.pid, signal.SIGSEGV)  # what librdkafka 2.16.0 does now and then
        assert child.sample() == "the status reader exited with -11; another one starts"
        assert child.sample() == expected
    finally:
        wire.close()
        child.close()
