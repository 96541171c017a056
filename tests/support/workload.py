"""A produce workload for reliability tests, recorded in a ``History``, and a full read-back.

``ProducerPool`` runs several confluent-kafka producers (acks=all, idempotent), each in its
own thread, sending unique values ``<producer>-<n>`` until stopped; every send is invoked in
the history and completed by its delivery report. A producer that meets a fatal error (an
idempotent producer whose acked writes the broker lost) stops at once; its undelivered
values stay unknown. ``read_back`` reads every partition from
the beginning to its high watermark. ``seeds`` is the list of seeds a chaos test runs:
``CHIRPSTREAM_SEED`` reproduces one, ``CHIRPSTREAM_SEEDS`` (default: the CI count) sets how
many (the cluster tests read ``CLUSTER_SEED`` and ``CLUSTER_SEEDS``).
"""

from __future__ import annotations

import os
import threading
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.history import History, Read

PRODUCER_CONFIG = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 2,
    "message.timeout.ms": 60_000,
    "request.timeout.ms": 5_000,
    "retry.backoff.ms": 50,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 250,
}


def seeds(ci_count: int, variable: str = "CHIRPSTREAM") -> list[int]:
    """``<variable>_SEED`` alone, else ``<variable>_SEEDS`` seeds (default ``ci_count``)."""
    if one := os.environ.get(f"{variable}_SEED"):
        return [int(one)]
    return list(range(1, int(os.environ.get(f"{variable}_SEEDS", ci_count)) + 1))


def create_topic(bootstrap: str, topic: str, partitions: int, **config: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config=config)])[topic].result(10)


class ProducerPool:
    def __init__(
        self, bootstrap: str, topic: str, history: History, producers: int = 4, **config: object
    ) -> None:
        self.topic = topic
        self.history = history
        self._stop = threading.Event()
        self._config = {"bootstrap.servers": bootstrap, **PRODUCER_CONFIG, **config}
        self._threads = [
            threading.Thread(target=self._run, args=(f"p{i}",), daemon=True)
            for i in range(producers)
        ]
        self.fatal_errors: list[str] = []  # a producer stops at its first fatal error
        self._flush_timeout = 60.0

    def start(self) -> ProducerPool:
        for thread in self._threads:
            thread.start()
        return self

    def acked(self) -> int:
        return len(self.history.acked())

    def wait_for_acks(self, count: int, timeout: float = 60.0) -> None:
        """Wait until ``count`` values are acked in all (a progress gate, not a time bound)."""
        deadline = time.monotonic() + timeout
        while self.acked() < count:
            assert time.monotonic() < deadline, f"only {self.acked()} of {count} acks came"
            time.sleep(0.01)

    def stop(self, flush_timeout: float = 60.0) -> None:
        """Stop sending and wait up to ``flush_timeout`` for outstanding delivery reports."""
        self._flush_timeout = flush_timeout
        self._stop.set()
        for thread in self._threads:
            thread.join(flush_timeout + 30)
        assert not any(thread.is_alive() for thread in self._threads)

    def _run(self, name: str) -> None:
        history = self.history
        producer = Producer(self._config)

        def report(err: KafkaError | None, msg) -> None:
            value = msg.value().decode()
            if err is None:
                history.ok(value, msg.partition(), msg.offset())
            else:
                history.unknown(value, str(err))

        sequence = 0
        try:
            while not self._stop.is_set():
                value = f"{name}-{sequence}"
                history.invoke(name, value)
                while not self._stop.is_set():
                    try:
                        producer.produce(self.topic, value.encode(), on_delivery=report)
                        break
                    except BufferError:  # the local queue is full: serve delivery reports
                        producer.poll(0.05)
                sequence += 1
                producer.poll(0.001)
        except KafkaException as exc:
            if not exc.args[0].fatal():
                raise
            self.fatal_errors.append(f"{name}: {exc.args[0].str()}")
            return  # no flush: it would run delivery reports with the fatal error pending
        producer.flush(self._flush_timeout)  # values still undelivered stay unknown


# What a watermark query meets while a partition's leadership moves (a cluster's failover or
# preferred-leader election): librdkafka does not retry it, so read_back does.
LEADER_MOVING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.FENCED_LEADER_EPOCH,
    KafkaError.UNKNOWN_LEADER_EPOCH,
}


def _high_watermark(consumer: Consumer, topic: str, partition: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
        except KafkaException as exc:
            if exc.args[0].code() not in LEADER_MOVING or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def read_back(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0) -> list[Read]:
    """Every record of every partition, from the beginning to the high watermark."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "read-back",
            "enable.auto.commit": False,
            "check.crcs": True,
            "fetch.wait.max.ms": 50,
        }
    )
    try:
        ends = {p: _high_watermark(consumer, topic, p) for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends if ends[p]])
        reads: list[Read] = []
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < partitions:
            assert time.monotonic() < deadline, f"read back stalled: {len(reads)} read, {ends}"
            for msg in consumer.consume(1000, 0.2):
                assert msg.error() is None, msg.error()
                reads.append(Read(msg.partition(), msg.offset(), msg.value().decode()))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return reads
    finally:
        consumer.close()
