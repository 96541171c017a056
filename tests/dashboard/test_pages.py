"""Every dashboard page under Streamlit's AppTest, through the entry file (its navigation and
shared controls), against a store this test fills with known numbers: the assertions are on
the figures, tables and chart data shown, not only on "no exception"."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.charts import PALETTE
from dashboard.rows import (
    BrokerRow,
    ClusterSample,
    CommitRow,
    GroupRow,
    MemberRow,
    PartitionRow,
    ResultSecond,
    TailRow,
    WindowRow,
)
from dashboard.store import Store
from dashboard.ui import STORE_ENV

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
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
    """A fresh session opened on ``page`` (a file of dashboard/views)."""
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    if page != "overview.py":
        app.switch_page(f"views/{page}").run()
    assert not app.exception, app.exception
    return app


def chart(app: AppTest, index: int) -> tuple[dict, pd.DataFrame]:
    """The Vega-Lite spec of the page's ``index``-th chart and the data it draws."""
    element = app.get("vega_lite_chart")[index]
    frames = [
        pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in element.proto.datasets
    ]
    return json.loads(element.proto.spec), pd.concat(frames) if frames else pd.DataFrame()


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
    # Partition 2 has no commit: its lag grew between the samples while the others fell.
    assert app.main.caption[0].value == (
        f"Lag {sum(LAG.values()):,}: not draining — the lag of tweets:2 is not falling."
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


def test_shared_controls_keep_their_values_across_a_page_switch(store):
    app = run("overview.py")
    app.select_slider(key="refresh").set_value(5).run()
    app.text_input(key="bootstrap").input("127.0.0.1:9999").run()
    for page in ("partitions.py", "groups.py", "produce.py"):
        app.switch_page(f"views/{page}").run()
        assert not app.exception, app.exception
        assert app.select_slider(key="refresh").value == 5
        assert app.text_input(key="bootstrap").value == "127.0.0.1:9999"


def test_the_topic_comes_from_the_link_and_follows_the_viewer(store):
    both = sample(NOW + 1, AFTER, COMMITTED)
    both.partitions.append(PartitionRow("clicks", 0, 0, [0], [0], 0, 5))
    store.write_sample(both)
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.query_params["topic"] = "clicks"  # a shared link: /partitions?topic=clicks
    app.run()
    app.switch_page("views/partitions.py").run()
    assert app.selectbox[0].value == "clicks"
    assert list(app.dataframe[0].value["high_watermark"]) == [5]
    app.selectbox[0].select("tweets").run()
    assert app.query_params["topic"] in ("tweets", ["tweets"])
    app.switch_page("views/overview.py").run()
    assert app.selectbox[0].value == "tweets"  # the choice survives the switch


def test_partitions_are_coloured_as_categories_alike_on_every_page(store):
    overview = run("overview.py")
    spec, _ = chart(overview, 1)  # messages in by partition of tweets
    assert spec["encoding"]["color"]["type"] == "nominal"
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"] == list(range(6))
    assert scale["range"] == [PALETTE[p] for p in range(6)]
    groups = run("groups.py")
    spec, _ = chart(groups, 0)  # lag per partition
    assert spec["encoding"]["color"]["scale"] == scale


def test_a_gap_in_the_samples_breaks_the_line(store):
    store.write_sample(sample(NOW - 30_000, BEFORE, COMMITTED))  # then nothing for 29 s
    _, data = chart(run("groups.py"), 0)
    for _, line in data.sort_values("time").groupby("partition"):
        assert line["lag"].isna().sum() == 1  # one break, between the old sample and the rest
        assert pd.isna(line["lag"].iloc[1])


def test_analytics_plot_when_results_were_produced_not_tweet_time(store):
    future = NOW + 100 * 60_000  # simulated tweet time ran ahead of the clock
    store.write_analytics(
        [WindowRow(future, 9, 0, 0, 0, 0.9, {"neutral": 9}, {"en": 9}, [])],
        None,
        results=[ResultSecond(NOW - 1000, 4, 0.4), ResultSecond(NOW, 6, -0.6)],
    )
    app = run("analytics.py")
    _, data = chart(app, 0)
    assert list(data["tweets"]) == [4, 6]
    assert data["time"].max() <= pd.Timestamp(NOW, unit="ms", tz="UTC")


def test_top_hashtags_are_sorted_by_count(store):
    app = run("analytics.py")
    drawn = [chart(app, i) for i in range(len(app.get("vega_lite_chart")))]
    spec = next(s for s, d in drawn if "hashtag" in d.columns)
    assert spec["encoding"]["y"]["field"] == "hashtag"
    assert spec["encoding"]["y"]["sort"] == "-x"  # the longest bar on top, not A to Z


def test_partitions_page_shows_topic_settings_and_log_start_over_time(store):
    store.write_topic_configs({"tweets": {"retention.ms": "604800000", "cleanup.policy": "delete"}})
    app = run("partitions.py")
    settings = app.dataframe[1].value
    assert dict(zip(settings["name"], settings["value"], strict=True)) == {
        "cleanup.policy": "delete",
        "retention.ms": "604800000",
    }
    assert "Log start offset over time" in [h.value for h in app.main.subheader]
    drawn = [chart(app, i) for i in range(len(app.get("vega_lite_chart")))]
    layers = [(s.get("encoding", {}).get("y", {}).get("field"), d) for s, d in drawn]
    data = next(d for field, d in layers if field == "log_start")
    newest = data[data["time"] == data["time"].max()].sort_values("partition")
    assert list(newest["log_start"]) == [LOG_START[p] for p in range(6)]


def test_a_rerun_shows_the_newest_sample_not_a_cached_one(store):
    app = run("partitions.py")
    assert list(app.dataframe[0].value["high_watermark"]) == [AFTER[p] for p in range(6)]
    app.run()  # nothing new: served from the cache, the same figures
    assert list(app.dataframe[0].value["high_watermark"]) == [AFTER[p] for p in range(6)]
    later = {p: AFTER[p] + 1000 for p in range(6)}
    store.write_sample(sample(NOW + 1000, later, COMMITTED))
    app.run()
    assert list(app.dataframe[0].value["high_watermark"]) == [later[p] for p in range(6)]
