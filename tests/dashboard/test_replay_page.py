"""The Crash before commit page under AppTest, on a store and a worker log this test writes: the
ranges drawn are the crash line's, the re-reader is the member the group gave them to next
(once its commit passed them), and the totals drawn are tweets read with re-reads vs counted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from consumers.crash import EXIT_CODE, UncommittedRange, crash_line
from dashboard.rows import BrokerRow, ClusterSample, CommitRow, GroupRow, MemberRow
from dashboard.store import Store
from dashboard.ui import STORE_ENV
from tests.support.fault_workers import exit_codes, fault_taking_group

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
CRASH_MS = time.time_ns() // 1_000_000 - 10_000
CRASHED, SURVIVOR = "analytics-0-100", "analytics-1-200"
RANGES = [UncommittedRange("tweets", 0, 120, 455), UncommittedRange("tweets", 3, 88, 301)]
COUNTED = 5000


def sample(ts_ms: int, owners: dict[str, list[int]], committed: dict[int, int]) -> ClusterSample:
    return ClusterSample(
        ts_ms=ts_ms,
        brokers=[BrokerRow(0, "127.0.0.1", 9092)],
        groups=[GroupRow("analytics", "Stable", "consumer", "cooperative-sticky", len(owners))],
        members=[
            MemberRow("analytics", f"m-{client}", client, "/127.0.0.1", [("tweets", p) for p in ps])
            for client, ps in owners.items()
        ],
        commits=[CommitRow("analytics", "tweets", p, c) for p, c in committed.items()],
    )


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "analytics.log").write_text(
        "worker 0: partitions [0, 3]\n"
        f"{crash_line('worker 0', CRASHED, RANGES, CRASH_MS)}\n"
        "analytics: worker 0 exited with 86; the others take over its partitions\n"
    )
    store = Store(path)
    before = {CRASHED: [0, 3], SURVIVOR: [1, 2, 4, 5]}
    store.write_sample(sample(CRASH_MS - 2000, before, {0: 120, 3: 88}))
    store.write_sample(sample(CRASH_MS + 3000, {SURVIVOR: list(range(6))}, {0: 300, 3: 88}))
    store.write_sample(sample(CRASH_MS + 4000, {SURVIVOR: list(range(6))}, {0: 500, 3: 88}))
    totals = {
        "tweets": COUNTED,
        "malformed": 0,
        "retweets": 0,
        "replies": 0,
        "sentiment_sum": 0.0,
        "labels": {},
        "languages": {},
        "top_hashtags": [],
        "top_authors": [],
    }
    store.write_analytics([], totals)
    store.write_repeats(
        [
            (CRASH_MS - 60_000, 0, 50, 119, 60),  # before the crash, below the range: not shown
            (CRASH_MS + 3500, 0, 120, 300, 150),
            (CRASH_MS + 3600, 0, 301, 455, 140),
            (CRASH_MS + 3700, 1, 130, 140, 11),  # another partition: not shown
        ]
    )
    return store


def replay_page() -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/replay.py").run()
    assert not app.exception, app.exception
    return app


def chart_data(app: AppTest, index: int) -> pd.DataFrame:
    element = app.get("vega_lite_chart")[index]
    spec = json.loads(element.proto.spec)
    name = (spec.get("data") or spec["layer"][0]["data"])["name"]
    named = {
        d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas()
        for d in element.proto.datasets
    }
    return named[name]


def test_the_uncommitted_ranges_and_the_member_that_read_them_again_are_drawn(store):
    app = replay_page()
    drawn = chart_data(app, 0)
    columns = ["partition", "role", "member", "first", "end"]
    rows = set(drawn[columns].itertuples(index=False, name=None))
    assert rows == {
        ("tweets[0]", "processed, not committed", CRASHED, 120, 456),
        ("tweets[0]", "read again", SURVIVOR, 120, 456),
        # Partition 3's commit has not passed 301 yet: not shown as read again.
        ("tweets[3]", "processed, not committed", CRASHED, 88, 302),
    }
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Crashed member"] == CRASHED
    assert metrics["Processed, not committed"] == f"{336 + 214:,}"
    assert metrics["Read again by"] == SURVIVOR


def test_the_totals_drawn_are_read_with_re_reads_and_counted_once(store):
    app = replay_page()
    totals = chart_data(app, 1)
    assert dict(zip(totals["what"], totals["tweets"], strict=True)) == {
        "tweets read (with re-reads)": COUNTED + 336,
        "tweets counted (once)": COUNTED,
    }
    captions = " ".join(c.value for c in app.caption)
    assert "one result per source range" in captions
    assert "it dropped 2 results published twice for these ranges (290 tweets)" in captions
    dropped = app.dataframe[1].value
    assert list(dropped.itertuples(index=False, name=None)) == [
        (0, "120..300", 150),
        (0, "301..455", 140),
    ]


def test_a_commit_passing_the_last_range_shows_it_read_again_on_the_next_run(store):
    app = replay_page()
    store.write_sample(sample(CRASH_MS + 5000, {SURVIVOR: list(range(6))}, {0: 600, 3: 350}))
    app.run()
    drawn = chart_data(app, 0)
    again = drawn[drawn["role"] == "read again"]
    assert sorted(again["partition"]) == ["tweets[0]", "tweets[3]"]
    totals = chart_data(app, 1)
    assert list(totals["tweets"]) == [COUNTED + 336 + 214, COUNTED]


def test_without_a_crash_line_the_page_says_where_it_looked(store, tmp_path):
    (tmp_path / "logs" / "analytics.log").write_text("worker 0: partitions [0, 3]\n")
    app = replay_page()
    assert "No crash before commit yet" in app.info[0].value
    assert not app.get("vega_lite_chart")


def test_the_button_makes_the_chosen_worker_of_up_crash_before_commit(store, tmp_path):
    group = fault_taking_group(tmp_path)  # the store's directory is up's data directory
    try:
        group.add(), group.add()
        app = replay_page()
        app.selectbox(key="crash_worker").set_value(1).run()
        app.button[0].click().run()
        assert not app.exception, app.exception
        assert "Worker 1 dies at its next commit point" in app.success[0].value
        assert exit_codes(group) == {0: None, 1: EXIT_CODE}
    finally:
        group.stop()


def test_without_up_running_there_is_no_button_and_a_line_says_why(store):
    app = replay_page()
    assert not app.button
    captions = " ".join(c.value for c in app.caption)
    assert "acts only on the workers `chirpstream up` runs" in captions


def test_a_pasted_crash_line_is_drawn_and_anything_else_refused_in_one_line(store, tmp_path):
    (tmp_path / "logs" / "analytics.log").unlink()  # an external cluster: no logs here
    app = replay_page()
    pasted = crash_line("worker 4", "analytics-4-9", [RANGES[0]], CRASH_MS)
    app.text_input(key="crash_line").input(pasted).run()
    drawn = chart_data(app, 0)
    assert set(drawn["member"]) == {"analytics-4-9", SURVIVOR}
    app.text_input(key="crash_line").input("worker 4 died").run()
    assert "not a worker's crash line" in app.error[0].value
