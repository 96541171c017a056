"""Every dashboard page under Streamlit's AppTest, against a store this test fills with known
numbers: the assertions are on the figures and tables shown, not only on "no exception"."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.store import (
    BrokerRow,
    ClusterSample,
    CommitRow,
    GroupRow,
    MemberRow,
    PartitionRow,
    Store,
    TailRow,
    WindowRow,
)
from dashboard.ui import STORE_ENV

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "pages"
NOW = time.time_ns() // 1_000_000
# Two samples one second apart: partition p grows by 10 * (p + 1) messages.
BEFORE = {p: 100 * (p + 1) for p in range(6)}
AFTER = {p: BEFORE[p] + 10 * (p + 1) for p in range(6)}
COMMITTED = {0: 100, 1: 150, 2: None, 3: 400, 4: 500, 5: 600}
LOG_START = {p: 7 * p for p in range(6)}  # retention moved some log starts up
# Lag is high watermark - committed, or - log start where the group has not committed yet.
LAG = {p: AFTER[p] - (LOG_START[p] if COMMITTED[p] is None else COMMITTED[p]) for p in range(6)}


def sample(ts_ms: int, high: dict[int, int], committed: dict[int, int | None]) -> ClusterSample:
    return ClusterSample(
        ts_ms=ts_ms,
        brokers=[BrokerRow(0, "127.0.0.1", 9092)],
        partitions=[
            PartitionRow("tweets", p, 0, [0, 1, 2], [0, 2], LOG_START[p], high[p]) for p in range(6)
        ],
        groups=[GroupRow("analytics", "Stable", "consumer", "cooperative-sticky", 2, 7)],
        members=[
            MemberRow(
                "analytics", "m-1", "analytics-0", "/127.0.0.1", [("tweets", 0), ("tweets", 1)]
            ),
            MemberRow(
                "analytics",
                "m-2",
                "analytics-1",
                "/127.0.0.1",
                [("tweets", p) for p in range(2, 6)],
            ),
        ],
        commits=[CommitRow("analytics", "tweets", p, c) for p, c in committed.items()],
    )


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    store = Store(path)
    store.write_sample(sample(NOW - 1000, BEFORE, {p: None for p in range(6)}))
    store.write_sample(sample(NOW, AFTER, COMMITTED))
    store.write_analytics(
        [
            WindowRow(
                NOW - 2000,
                5,
                0,
                1,
                0,
                1.5,
                {"positive": 3, "neutral": 2},
                {"en": 5},
                [("kafka", 2)],
            ),
            WindowRow(
                NOW - 1000,
                3,
                1,
                0,
                1,
                -0.3,
                {"negative": 1, "neutral": 2},
                {"es": 3},
                [("python", 1)],
            ),
        ],
        {
            "tweets": 8,
            "malformed": 1,
            "retweets": 1,
            "replies": 1,
            "sentiment_sum": 1.2,
            "labels": {"positive": 3, "neutral": 4, "negative": 1},
            "languages": {"en": 5, "es": 3},
            "top_hashtags": [["kafka", 2], ["python", 1]],
            "top_authors": [["42", "ada", 3]],
            "applied": 4,
            "superseded": 1,
            "duplicates": 2,
        },
    )
    store.write_tail([TailRow(3, 77, NOW, "42", "ada", "en", "Hello #kafka")])
    return store


def run(page: str) -> AppTest:
    app = AppTest.from_file(str(PAGES / page), default_timeout=30)
    app.run()
    assert not app.exception, app.exception
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_overview_shows_rates_totals_and_brokers(store):
    app = run("overview.py")
    shown = metrics(app)
    assert shown["Brokers up"] == "1"
    assert shown["Topics"] == "1"
    assert shown["Messages in /s"] == f"{sum(AFTER[p] - BEFORE[p] for p in range(6)):,}"
    assert shown["Records stored"] == f"{sum(AFTER[p] - LOG_START[p] for p in range(6)):,}"
    headings = [h.value for h in app.main.subheader]
    assert "Messages in per second, by partition of tweets" in headings
    topics = app.dataframe[0].value
    assert list(topics["topic"]) == ["tweets"]
    assert int(topics["partitions"][0]) == 6


def test_partitions_page_shows_offsets_skew_and_lag(store):
    app = run("partitions.py")
    table = app.dataframe[0].value
    assert list(table["high_watermark"]) == [AFTER[p] for p in range(6)]
    assert list(table["log_start"]) == [LOG_START[p] for p in range(6)]
    assert list(table["records"]) == [AFTER[p] - LOG_START[p] for p in range(6)]
    assert list(table["leader"]) == [0] * 6
    assert list(table["replicas"]) == ["0,1,2"] * 6
    assert list(table["isr"]) == ["0,2"] * 6
    captions = " ".join(c.value for c in app.caption)
    hottest = max(range(6), key=lambda p: AFTER[p] - LOG_START[p])
    assert f"The hot partition is {hottest}" in captions
    lag = app.dataframe[1].value
    assert list(lag["lag"]) == [LAG[p] for p in range(6)]


def test_groups_page_shows_members_lag_and_drain_time(store):
    app = run("groups.py")
    shown = metrics(app)
    assert shown["State"] == "Stable"
    assert shown["Generation"] == "7"
    assert shown["Members"] == "2"
    assert shown["Assignor"] == "cooperative-sticky"
    assert shown["Total lag"] == f"{sum(LAG.values()):,}"
    members = app.dataframe[0].value
    assert list(members["assignment"]) == [
        "tweets:0,tweets:1",
        "tweets:2,tweets:3,tweets:4,tweets:5",
    ]
    # One sample with commits: no consume rate is known yet, so no drain time can be promised.
    assert (
        app.main.caption[0].value
        == f"Lag {sum(LAG.values()):,} and nothing consumed recently: it will not drain."
    )


def test_analytics_page_shows_the_folded_totals(store):
    app = run("analytics.py")
    shown = metrics(app)
    assert shown["Tweets analysed"] == "8"
    assert shown["Mean sentiment"] == "+0.150"
    assert shown["Malformed"] == "1"
    authors = app.dataframe[0].value
    assert list(authors["username"]) == ["ada"]
    assert "dropped 2 repeats and replaced 1 partial results" in app.main.caption[-1].value


def test_live_tail_shows_key_partition_and_offset(store):
    app = run("tail.py")
    rows = app.dataframe[0].value
    assert list(rows[["partition", "offset", "key", "text"]].iloc[0]) == [
        3,
        77,
        "42",
        "Hello #kafka",
    ]


def test_an_unreachable_cluster_is_a_banner_not_a_traceback(store):
    store.write_error("cannot reach Kafka at 127.0.0.1:1")
    app = run("overview.py")
    assert "Cannot reach the Kafka cluster" in app.error[0].value
    assert metrics(app)["Brokers up"] == "1"  # the last data seen is still shown


def test_produce_page_reports_an_unreachable_broker(store, monkeypatch):
    monkeypatch.setenv("CHIRPSTREAM_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    app = run("produce.py")
    app.text_input(key="author").input("ada")
    app.text_area(key="text").input("hi #kafka")
    app.button[0].click().run(timeout=30)
    assert app.text_input(key="bootstrap").value == "127.0.0.1:1"
    assert "Not sent" in app.error[0].value


def test_produce_page_sends_and_shows_partition_and_offset(store, broker, monkeypatch):
    monkeypatch.setenv("CHIRPSTREAM_BOOTSTRAP_SERVERS", broker.bootstrap)
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("tweets", 6, 1)])["tweets"].result(10)
    placed = []
    for _ in range(2):
        app = run("produce.py")
        app.text_input(key="author").input("ada")
        app.button[0].click().run(timeout=30)
        assert not app.error, app.error[0].value
        placed.append(app.success[0].value)
    assert placed[0].startswith("Stored in partition ")
    partition = placed[0].split()[3]
    assert placed[1] == f"Stored in partition {partition} at offset 1."
