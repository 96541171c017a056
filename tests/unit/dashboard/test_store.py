"""The dashboard store: samples written and read back as chart frames with exact numbers."""

from __future__ import annotations

import math
import threading
import time

import pandas as pd
import pytest

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

T0 = 1_800_000_000_000


def sample(ts_ms: int, hws: list[int], commits: dict[int, int | None], log_start: int = 0):
    """A one-broker cluster: topic ``t`` with len(hws) partitions, group ``g`` committing."""
    return ClusterSample(
        ts_ms,
        brokers=[BrokerRow(0, "127.0.0.1", 9092)],
        partitions=[PartitionRow("t", p, 0, [0], [0], log_start, hw) for p, hw in enumerate(hws)],
        groups=[GroupRow("g", "STABLE", "consumer", "range", 1)],
        members=[MemberRow("g", "m-1", "client-1", "/127.0.0.1", [("t", 0), ("t", 1)])],
        commits=[CommitRow("g", "t", p, c) for p, c in commits.items()],
    )


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "dash.sqlite")
    yield store
    store.close()


def test_empty_store_reads_empty_frames(store):
    assert store.last_sample_ms() is None
    assert store.status()["ok"] is None
    assert store.topic_rates().empty
    assert store.partition_table("t").empty
    assert store.groups().empty
    assert store.analytics_totals() is None
    assert store.analytics_series().empty
    assert store.tail(10).empty


def test_rates_are_high_watermark_deltas_per_second(store):
    store.write_sample(sample(T0, [10, 0], {}))
    store.write_sample(sample(T0 + 1000, [15, 2], {}))
    store.write_sample(sample(T0 + 3000, [25, 2], {}))  # a missed second: 2 s between samples
    rates = store.partition_rates()
    assert rates[["ts_ms", "partition", "messages_per_s"]].values.tolist() == [
        [T0 + 1000, 0, 5.0],
        [T0 + 1000, 1, 2.0],
        [T0 + 3000, 0, 5.0],
        [T0 + 3000, 1, 0.0],
    ]
    topic = store.topic_rates()
    assert topic.values.tolist() == [[T0 + 1000, "t", 7.0], [T0 + 3000, "t", 5.0]]
    assert store.topic_rates(since_ms=T0 + 1000).values.tolist() == [[T0 + 3000, "t", 5.0]]
    history = store.partition_history("t")
    assert history["high_watermark"].tolist() == [10, 0, 15, 2, 25, 2]
    assert store.last_sample_ms() == T0 + 3000


def test_partition_table_is_the_latest_sample(store):
    store.write_sample(sample(T0, [10, 4], {}, log_start=1))
    store.write_sample(
        ClusterSample(
            T0 + 1000,
            partitions=[
                PartitionRow(
                    "t", 0, 1, [1, 2, 3], [1, 2, 3], 3, 12, log_ends=[(1, 13), (2, 12), (3, 12)]
                ),
                PartitionRow("t", 1, 2, [2, 3, 1], [2], 0, 4),
            ],
        )
    )
    table = store.partition_table("t")
    assert table.to_dict("records") == [
        {
            "partition": 0,
            "leader": 1,
            "replicas": "1,2,3",
            "isr": "1,2,3",
            "log_start": 3,
            "high_watermark": 12,
            "log_end_offsets": "1:13,2:12,3:12",
            "records": 9,
            "under_replicated": False,
        },
        {
            "partition": 1,
            "leader": 2,
            "replicas": "2,3,1",
            "isr": "2",
            "log_start": 0,
            "high_watermark": 4,
            "log_end_offsets": "",
            "records": 4,
            "under_replicated": True,
        },
    ]
    assert store.topics().values.tolist() == [["t", 2, 13, 16]]


def test_lag_is_high_watermark_minus_committed_or_log_start_without_a_commit(store):
    store.write_sample(sample(T0, [10, 20, 30], {0: 4, 1: None, 2: 30}, log_start=5))
    store.write_sample(sample(T0 + 1000, [12, 20, 31], {0: 10, 1: 6, 2: 30}, log_start=5))
    table = store.group_table("g")
    assert table["partition"].tolist() == [0, 1, 2]
    assert table["committed"].tolist() == [10, 6, 30]
    assert table["lag"].tolist() == [2, 14, 1]
    history = store.lag_history("g")
    assert history["lag"].tolist() == [6, 15, 0, 2, 14, 1]
    assert math.isnan(history["committed"].tolist()[1])  # no commit yet: NULL
    # Consumed per second: committed deltas; partition 1 had no commit before, counts 0.
    assert store.consume_rates().values.tolist() == [[T0 + 1000, "g", 6.0]]
    groups = store.groups()
    assert groups.to_dict("records") == [
        {
            "group_id": "g",
            "state": "STABLE",
            "protocol_type": "consumer",
            "assignor": "range",
            "members": 1,
            "generation": None,
            "lag": 17,
        }
    ]
    assert store.members("g").values.tolist() == [["m-1", "client-1", "/127.0.0.1", "t:0,t:1"]]
    assert store.brokers().values.tolist() == [[0, "127.0.0.1", 9092, 1]]


def test_commit_for_a_partition_without_offsets_has_no_lag(store):
    store.write_sample(
        ClusterSample(
            T0,
            partitions=[PartitionRow("t", 0, 0, [0], [0], None, None)],
            commits=[CommitRow("g", "t", 0, 3), CommitRow("g", "gone", 0, 7)],
        )
    )
    lags = store.group_table("g")["lag"].tolist()
    assert len(lags) == 2 and all(pd.isna(x) for x in lags)


def test_error_status_keeps_the_last_good_sample(store):
    store.write_sample(sample(T0, [1], {}))
    store.write_error("cannot sample Kafka: down", ts_ms=T0 + 5000)
    assert store.status() == {
        "ok": False,
        "message": "cannot sample Kafka: down",
        "ts_ms": T0 + 5000,
        "last_ok_ms": T0,
    }
    assert store.partition_table("t")["high_watermark"].tolist() == [1]
    store.write_sample(sample(T0 + 6000, [2], {}))
    assert store.status() == {
        "ok": True,
        "message": "ok",
        "ts_ms": T0 + 6000,
        "last_ok_ms": T0 + 6000,
    }


def test_prune_drops_history_older_than_keep(store):
    for i in range(10):
        store.write_sample(sample(T0 + i * 1000, [i], {0: i}))
    store.write_analytics(
        [
            WindowRow(T0 + i * 1000, 1, 0, 0, 0, 0.5, {"positive": 1}, {"en": 1}, [])
            for i in range(10)
        ],
        None,
    )
    store.prune(keep_seconds=3, now_ms=T0 + 9000)
    assert store.partition_history("t")["ts_ms"].tolist() == [
        T0 + 6000,
        T0 + 7000,
        T0 + 8000,
        T0 + 9000,
    ]
    assert len(store.lag_history("g")) == 4
    assert store.analytics_series()["window_ms"].tolist() == [T0 + i * 1000 for i in range(6, 10)]


def test_analytics_windows_totals_and_tail(store):
    store.write_analytics(
        [
            WindowRow(
                T0,
                4,
                1,
                1,
                0,
                1.0,
                {"positive": 2, "neutral": 2},
                {"en": 3, "es": 1},
                [("ai", 2), ("kafka", 1)],
            ),
            WindowRow(T0 + 1000, 2, 0, 0, 1, -1.0, {"negative": 2}, {"en": 2}, []),
        ],
        {
            "tweets": 6,
            "malformed": 1,
            "retweets": 1,
            "replies": 1,
            "sentiment_sum": 0.0,
            "labels": {"positive": 2, "neutral": 2, "negative": 2},
            "languages": {"en": 5, "es": 1},
            "top_hashtags": [("ai", 2), ("kafka", 1)],
            "top_authors": [("42", "alice", 3)],
            "applied": 2,
            "duplicates": 1,
        },
    )
    series = store.analytics_series()
    assert series["tweets"].tolist() == [4, 2]
    assert series["mean_sentiment"].tolist() == [0.25, -0.5]
    assert series[["positive", "neutral", "negative"]].values.tolist() == [[2, 2, 0], [0, 0, 2]]
    assert series["languages"].tolist()[0] == {"en": 3, "es": 1}
    assert series["hashtags"].tolist()[0] == [["ai", 2], ["kafka", 1]]
    totals = store.analytics_totals()
    assert totals["tweets"] == 6 and totals["duplicates"] == 1 and totals["mean_sentiment"] == 0.0
    assert totals["top_authors"] == [["42", "alice", 3]]
    # A superseded window that emptied is removed.
    store.write_analytics([], None, removed_windows=[T0 + 1000])
    assert store.analytics_series()["window_ms"].tolist() == [T0]

    rows = [TailRow(i % 3, i, T0 + i, f"k{i}", "bob", "en", f"tweet {i}") for i in range(250)]
    store.write_tail(rows[:100])
    store.write_tail(rows[100:])
    tail = store.tail(300)
    assert len(tail) == 200
    assert tail["text"].tolist()[:2] == ["tweet 249", "tweet 248"]
    assert store.tail(1)[["partition", "offset"]].values.tolist() == [[249 % 3, 249]]


def test_a_reader_in_another_connection_reads_while_the_writer_writes(tmp_path):
    writer = Store(tmp_path / "dash.sqlite")
    reader = Store(tmp_path / "dash.sqlite")
    errors: list[BaseException] = []
    seen: list[int] = []

    def write() -> None:
        try:
            for i in range(300):
                writer.write_sample(sample(T0 + i * 1000, [i, 2 * i], {0: i}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    while thread.is_alive():
        rates = reader.topic_rates()
        # Every sample is committed whole: each rate covers both partitions, 3 per second.
        assert set(rates["messages_per_s"]) <= {3.0}
        seen.append(len(reader.lag_history("g")))
    thread.join()
    assert errors == []
    assert seen == sorted(seen)  # readers only ever see whole samples, in order
    assert len(reader.lag_history("g")) == 300
    assert len(reader.topic_rates()) == 299
    writer.close()
    reader.close()


def test_an_hour_of_samples_reads_fast_enough(tmp_path, capsys):
    """3600 one-second samples of a 6-partition topic and a 3-member group; timings printed."""
    store = Store(tmp_path / "dash.sqlite")
    started = time.perf_counter()
    for i in range(3600):
        store.write_sample(
            ClusterSample(
                T0 + i * 1000,
                brokers=[BrokerRow(0, "127.0.0.1", 9092)],
                partitions=[PartitionRow("tweets", p, 0, [0], [0], 0, 50 * i + p) for p in range(6)]
                + [PartitionRow("tweet-stats", 0, 0, [0], [0], 0, 6 * i)],
                groups=[GroupRow("analytics", "STABLE", "consumer", "range", 3)],
                members=[
                    MemberRow("analytics", f"m{m}", f"w{m}", "/127.0.0.1", [("tweets", 2 * m)])
                    for m in range(3)
                ],
                commits=[CommitRow("analytics", "tweets", p, 50 * i - 10) for p in range(6)],
            )
        )
    write_s = time.perf_counter() - started
    timings = {}
    for name, read in {
        "topic_rates": lambda: store.topic_rates(T0),
        "partition_rates": lambda: store.partition_rates(T0, "tweets"),
        "lag_history": lambda: store.lag_history("analytics", T0),
        "consume_rates": lambda: store.consume_rates(T0),
        "partition_table": lambda: store.partition_table("tweets"),
        "group_table": lambda: store.group_table("analytics"),
        "groups": store.groups,
        "topic_rates last 5 min": lambda: store.topic_rates(T0 + 3300 * 1000),
    }.items():
        started = time.perf_counter()
        frame = read()
        timings[name] = (time.perf_counter() - started) * 1000
        assert not frame.empty
    assert len(store.topic_rates(T0)) == 2 * 3599
    assert store.topic_rates(T0).query("topic == 'tweets'")["messages_per_s"].eq(300.0).all()
    assert len(store.lag_history("analytics", T0)) == 6 * 3600
    assert store.group_table("analytics")["lag"].tolist() == [10 + p for p in range(6)]
    size = (tmp_path / "dash.sqlite").stat().st_size + (tmp_path / "dash.sqlite-wal").stat().st_size
    with capsys.disabled():
        print(
            f"\n1 h of samples: wrote in {write_s:.2f} s, db+wal {size / 1e6:.1f} MB; reads (ms):"
        )
        for name, ms in timings.items():
            print(f"  {name:24} {ms:8.1f}")
    store.close()


def test_results_per_second_topic_settings_and_the_version(store):
    empty = store.version()
    store.write_analytics(
        [], None, results=[ResultSecond(T0, 4, 2.0), ResultSecond(T0 + 1000, 0, 0.0)]
    )
    series = store.results_series(T0)
    assert series["tweets"].tolist() == [4, 0]
    assert series["mean_sentiment"].iloc[0] == 0.5 and math.isnan(series["mean_sentiment"].iloc[1])
    store.write_topic_configs({"t": {"retention.ms": "1000", "cleanup.policy": "compact"}})
    store.write_topic_configs({"t": {"retention.ms": "2000"}})  # replaces, not merges
    assert store.topic_configs("t").values.tolist() == [["retention.ms", "2000"]]
    after = store.version()
    assert after != empty
    store.write_sample(sample(T0, [1], {}))
    assert store.version() != after  # a new sample is a new version: readers re-query
    store.write_checkpoint(b"state")
    assert store.checkpoint() == b"state"
    store.clear_analytics()
    assert store.checkpoint() is None and store.results_series().empty
