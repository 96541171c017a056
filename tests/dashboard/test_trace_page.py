"""The "Follow one tweet" page under AppTest, on a store this test fills and a real broker
holding the tweet and its ``tweet-stats`` results (with the workers' ``member.id`` and
``read.ms`` headers) at timestamps this test chose: every hop, replica and result shown is
the one those records and samples make."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pyarrow as pa
import pytest
from confluent_kafka import Producer
from streamlit.testing.v1 import AppTest

from chirpstream.kafka import ensure_topic
from chirpstream.settings import STATS_TOPIC, TWEETS_TOPIC
from consumers.runs import encode_result
from dashboard import trace_reader
from dashboard.produce import typed_tweet
from dashboard.rows import (
    BrokerRow,
    ClusterSample,
    CommitRow,
    GroupRow,
    MemberRow,
    PartitionRow,
    TailRow,
)
from dashboard.store import Store
from dashboard.ui import BOOTSTRAP_ENV, STORE_ENV

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
T = time.time_ns() // 1_000_000 - 10_000  # the traced tweet's timestamp
PARTITION, OFFSET = 1, 1
TOOK_MS = 20  # each sample read its figures this long after it started
READER = "m-2"  # the member the results name


def result(first: int, last: int) -> bytes:
    tweets = last - first + 1
    return encode_result(
        {
            "v": 1, "partition": PARTITION, "first_offset": first, "last_offset": last,
            "window_start_ms": T - T % 1000, "window_ms": 1000, "tweets": tweets,
            "malformed": 0, "retweets": 0, "replies": 0, "sentiment_sum": 0.0,
            "labels": {"positive": 0, "neutral": tweets, "negative": 0},
            "languages": {"en": tweets}, "hashtags": {}, "mentions": {},
            "authors": {"bo": tweets}, "usernames": {"bo": "bo"},
        }
    )  # fmt: skip


def fill_kafka(bootstrap: str) -> None:
    """Three tweets on partition 1 (offset 1 at ``T``) and three results: a partial of 0..1
    (read at T+250, produced at T+300), the final 0..2, and the next run from 3."""
    ensure_topic(bootstrap, TWEETS_TOPIC, 3)
    ensure_topic(bootstrap, STATS_TOPIC, 1)
    producer = Producer({"bootstrap.servers": bootstrap})
    for offset in range(3):
        key, value = typed_tweet("bo", f"tweet {offset}", now_ms=T + offset - OFFSET)
        producer.produce(TWEETS_TOPIC, value, key, partition=PARTITION, timestamp=T + offset - 1)
    for (first, last), read, produced in (
        ((0, 1), 250, 300),
        ((0, 2), 800, 900),
        ((3, 3), 1100, 1200),
    ):
        producer.produce(
            STATS_TOPIC,
            result(first, last),
            str(PARTITION).encode(),
            partition=0,
            timestamp=T + produced,
            headers=[("member.id", READER.encode()), ("read.ms", str(T + read).encode())],
        )
    assert producer.flush(10) == 0


def sample(at: int, high: int, ends: dict[int, int], committed: int) -> ClusterSample:
    return ClusterSample(
        ts_ms=T + at,
        brokers=[BrokerRow(n, "127.0.0.1", 9092 + n) for n in range(3)],
        partitions=[
            PartitionRow(
                TWEETS_TOPIC,
                PARTITION,
                0,
                [0, 1, 2],
                [0, 1, 2],
                0,
                high,
                log_ends=sorted(ends.items()),
            )
        ],
        groups=[GroupRow("analytics", "Stable", "consumer", "cooperative-sticky", 2)],
        members=[
            MemberRow("analytics", "m-1", "analytics-0-11", "/127.0.0.1", [(TWEETS_TOPIC, 0)]),
            MemberRow(
                "analytics",
                READER,
                "analytics-1-12",
                "/127.0.0.1",
                [(TWEETS_TOPIC, 1), (TWEETS_TOPIC, 2)],
            ),
        ],
        commits=[CommitRow("analytics", TWEETS_TOPIC, PARTITION, committed)],
        took_ms=TOOK_MS,
    )


@pytest.fixture
def store(broker, tmp_path, monkeypatch) -> Store:
    fill_kafka(broker.bootstrap)
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    monkeypatch.setenv(BOOTSTRAP_ENV, broker.bootstrap)
    store = Store(path)
    # Offset 1: on no replica at T-500; on the leader and replica 1 at T+500; committed (HW 2)
    # and on replica 2 at T+1500; the group's offset past it at T+2500.
    store.write_sample(sample(-500, 1, {0: 1, 1: 1, 2: 1}, 0))
    store.write_sample(sample(500, 1, {0: 3, 1: 2, 2: 1}, 0))
    store.write_sample(sample(1500, 3, {0: 3, 1: 3, 2: 3}, 0))
    store.write_sample(sample(2500, 3, {0: 3, 1: 3, 2: 3}, 3))
    store.write_tail([TailRow(PARTITION, OFFSET, T, "bo", "bo", "en", "tweet 1")])
    return store


def test_the_trace_of_a_tail_tweet_shows_each_hop_replica_member_and_result(store):
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/trace.py").run()
    assert not app.exception, app.exception
    assert app.selectbox[0].value == f"{PARTITION}:{OFFSET}"  # the newest tail tweet
    assert f"Key 'bo': partition {PARTITION}, offset {OFFSET}" in [
        h.value for h in app.main.subheader
    ]
    assert "Read by member `m-2` (analytics-1-12) of `analytics`." in [
        m.value for m in app.markdown
    ]
    hops = app.dataframe[0].value
    shown = dict(zip(hops["hop"], zip(hops["after_ms"], hops["known"], strict=True), strict=True))
    assert shown == {
        "produced": (0, "exact"),
        "appended to the leader's log": (500 + TOOK_MS, "seen by"),
        "committed (high watermark passed it)": (1500 + TOOK_MS, "seen by"),
        "read by a worker": (250, "exact"),  # the partial's last record is this tweet
        "result produced": (300, "exact"),
        "offset committed": (2500 + TOOK_MS, "seen by"),
    }
    element = app.get("vega_lite_chart")[0]
    spec = json.loads(element.proto.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rule", "point", "text"]
    drawn = pa.ipc.open_stream(element.proto.datasets[0].data.data).read_all().to_pandas()
    assert sorted(drawn["after_ms"]) == [0, 250, 300, 520, 1520, 2520]

    replicas = app.dataframe[1].value
    since = dict(zip(replicas["replica"], replicas["holds_since"], strict=True))
    assert {r: t.value // 1_000_000 for r, t in since.items()} == {
        0: T + 500 + TOOK_MS,
        1: T + 500 + TOOK_MS,
        2: T + 1500 + TOOK_MS,
    }
    results = app.dataframe[2].value
    assert results["tweet-stats offset"].tolist() == [0, 1]  # first the partial, then the final
    assert results["offsets"].tolist() == ["0..1", "0..2"]
    assert set(results["member"]) == {READER}
    assert not any("may still grow" in c.value for c in app.caption)  # the next run was seen


def test_the_tweet_sent_from_produce_is_the_one_followed(store):
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/produce.py").run()
    app.text_input(key="author").set_value("teacher")
    app.button[0].click().run()
    assert not app.exception, app.exception
    stored = re.fullmatch(r"Stored in partition (\d+) at offset (\d+)\.", app.success[0].value)
    assert stored is not None, app.success[0].value
    partition, offset = int(stored[1]), int(stored[2])
    app.switch_page("views/trace.py").run()
    assert not app.exception, app.exception
    assert app.selectbox[0].value == f"{partition}:{offset}"
    assert f"Key 'teacher': partition {partition}, offset {offset}" in [
        h.value for h in app.main.subheader
    ]
    hops = app.dataframe[0].value.set_index("hop")
    assert hops.loc["produced", "after_ms"] == 0  # its record timestamp, read from Kafka
    assert hops["after_ms"].drop("produced").isna().all()  # no sample or result since
    assert "No tweet-stats result covers it yet." in [i.value for i in app.info]


def test_with_the_cluster_down_the_page_answers_from_the_collectors_tail_without_kafka(
    tmp_path, monkeypatch
):
    # The collector's newest sample could not reach the cluster: a read from Kafka would wait
    # out its timeout at every refresh, so the page must not make one.
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    monkeypatch.setenv(BOOTSTRAP_ENV, "127.0.0.1:9")
    store = Store(path)
    store.write_tail([TailRow(PARTITION, OFFSET, T, "bo", "bo", "en", "tweet 1")])
    store.write_error("cannot sample Kafka at 127.0.0.1:9: no broker answers")

    def reads_kafka(*_args, **_kwargs):
        raise AssertionError("a Kafka read while the collector says the cluster is down")

    monkeypatch.setattr(trace_reader, "read_tweet", reads_kafka)
    monkeypatch.setattr(trace_reader, "find_results", reads_kafka)
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/trace.py").run()
    assert not app.exception, app.exception
    assert any(i.value.startswith("The cluster cannot be reached") for i in app.info)
    assert f"Key 'bo': partition {PARTITION}, offset {OFFSET}" in [
        h.value for h in app.main.subheader
    ]
    assert "tweet 1" in [c.value for c in app.caption]
    assert "No tweet-stats result covers it yet." not in [i.value for i in app.info]
