"""The log strip on a live broker: retention deletes whole segments from the left, the
collector samples it, and the Partitions page draws the new log start, the broker's log end
offset, and a group whose committed offset retention deleted, which a real consumer of that
group then shows restarting from its ``auto.offset.reset``."""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from streamlit.testing.v1 import AppTest

from dashboard.collector import Collector
from dashboard.store import Store
from dashboard.ui import STORE_ENV
from tests.dashboard.test_log_strip import marked, strip_data
from tests.support.confluent import produce, watermarks
from tests.support.messages import keyed_messages

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
LOST_AT = 5  # the group commits this offset, then retention deletes it


def commit(bootstrap: str, group: str, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition("tweets", 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def first_offset_read(bootstrap: str, group: str) -> int:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"}
    )
    try:
        consumer.subscribe(["tweets"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and msg.error() is None:
                return msg.offset()
        raise AssertionError("the group read nothing")
    finally:
        consumer.close()


def test_retention_moves_the_log_start_past_a_group_and_the_strip_shows_it(
    broker_factory, tmp_path, monkeypatch
):
    broker = broker_factory(config={"log.retention.check.interval.ms": "200"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    small = {"segment.bytes": "20000", "retention.bytes": "60000"}  # whole segments go
    admin.create_topics([NewTopic("tweets", 1, 1, config=small)])["tweets"].result(10)
    produce(broker.bootstrap, "tweets", keyed_messages(20))
    commit(broker.bootstrap, "early", LOST_AT)
    produce(broker.bootstrap, "tweets", keyed_messages(2000), **{"batch.num.messages": 50})
    deadline = time.monotonic() + 20
    while (low := watermarks(broker.bootstrap, "tweets", 1)[0][0]) <= LOST_AT:
        assert time.monotonic() < deadline, "retention never moved the log start"
        time.sleep(0.2)

    path = tmp_path / "dashboard.sqlite"
    collector = Collector(broker.bootstrap, Store(path), timeout_s=2.0)
    try:
        assert collector.sample_once(drain_s=0)
    finally:
        collector.close()
    low, high = watermarks(broker.bootstrap, "tweets", 1)[0]  # retention is done: no appends

    monkeypatch.setenv(STORE_ENV, str(path))
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/partitions.py").run()
    assert not app.exception, app.exception
    spans, markers = strip_data(app)
    assert marked(markers, 0) == {
        ("log start", low, f"log start {low}"),
        ("high watermark", high, f"HW {high}"),
        ("log end offset", high, f"LEO {high}: replica 0"),
        ("committed, below log start", LOST_AT, f"early {LOST_AT}: lost"),
    }
    deleted = spans[spans["kind"] == "deleted by retention"]
    assert list(zip(deleted["start"], deleted["end"], strict=True)) == [(0, low)]
    captions = " ".join(c.value for c in app.caption)
    assert f"Group early's committed offset {LOST_AT} on partition 0 is below" in captions

    # What the strip says happens: the group's next read restarts at auto.offset.reset.
    assert first_offset_read(broker.bootstrap, "early") == low
