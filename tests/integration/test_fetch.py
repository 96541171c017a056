"""Fetch long polling: a waiting consumer is woken by an append, not by its timeout."""

from __future__ import annotations

import threading
import time

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from tests.support.batches import make_batch
from tests.support.wire import WireClient


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


def test_every_requested_partition_is_answered_with_its_marks(broker_factory):
    """A fetch over three partitions, one with data, one empty, one that does not exist:
    each is in the answer, and the last stable offset is the high watermark (no transactions)."""
    broker = broker_factory(config={"num.partitions": "2"})
    with WireClient(broker.port) as wire:
        wire.metadata("marks")  # auto-created with two partitions
        stored = wire.produce("marks", make_batch([b"a", b"b", b"c"]), partition=1)
        assert stored.error_code == 0
        wanted = [0, 1, 7]
        request = wire.encode(
            1,
            12,
            {
                "max_wait": 0,
                "min_bytes": 1,
                "max_bytes": 1 << 20,
                "topics": [
                    {
                        "topic": "marks",
                        "partitions": [
                            {"partition": p, "fetch_offset": 0, "partition_max_bytes": 1 << 20}
                            for p in wanted
                        ],
                    }
                ],
                "forgotten_topics_data": [],
                "rack_id": "",
            },
        )
        wire.send_raw(request)
        answer = {p.partition_index: p for p in wire.read_response(1, 12).responses[0].partitions}
    assert sorted(answer) == wanted
    empty, full, missing = answer[0], answer[1], answer[7]
    assert (empty.error_code, empty.high_watermark, empty.last_stable_offset) == (0, 0, 0)
    assert (full.error_code, full.high_watermark, full.last_stable_offset) == (0, 3, 3)
    assert full.log_start_offset == 0 and len(full.records) > 0 and not empty.records
    assert missing.error_code == 3  # UNKNOWN_TOPIC_OR_PARTITION


def test_an_idle_long_poll_is_answered_empty_once_max_wait_has_passed(broker):
    """Nothing arrives: the fetch is held for its max_wait, no less, then answered (its timer
    fires; with none, it would wait until the client gives up)."""
    with WireClient(broker.port, timeout=30.0) as client:
        client.metadata("held")  # auto-created
        assert client.produce("held", make_batch([b"only"])).error_code == 0
        sent = time.monotonic()
        client.send_raw(client.fetch_request("held", 1, max_wait_ms=300))
        answer = client.read_response(1, 12).responses[0].partitions[0]
        waited = time.monotonic() - sent
    assert answer.error_code == 0 and answer.high_watermark == 1
    assert not answer.records
    assert waited >= 0.3
