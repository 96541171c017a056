"""Fetch long polling: a waiting consumer is woken by an append, not by its timeout."""

from __future__ import annotations

import threading

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition


def test_long_poll_wakes_on_append(broker):
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("poll", b"first", partition=0)
    producer.flush(10)
    # A fetch that could wait 60 s must still return the next message promptly.
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "lp",
            "fetch.wait.max.ms": 60_000,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition("poll", 0, OFFSET_END)])
    try:
        consumer.poll(1.0)  # start fetching at the end
        timer = threading.Timer(
            1.0, lambda: (producer.produce("poll", b"second", partition=0), producer.flush(10))
        )
        timer.start()
        # The fetch may wait 60 s; only a wake-up by the append delivers within this poll.
        msg = consumer.poll(30)
        timer.join()
        assert msg is not None and msg.error() is None
        assert msg.value() == b"second" and msg.offset() == 1
    finally:
        consumer.close()
