"""The Partitions page's log strip under AppTest, on a store this test fills: the cells,
ranges and markers in the chart's data are the offsets the store holds, and they move when
a new sample moves them (retention deleting from the left)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.rows import BrokerRow, ClusterSample, CommitRow, GroupRow, PartitionRow
from dashboard.store import Store
from dashboard.ui import STORE_ENV

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
NOW = time.time_ns() // 1_000_000
LOG_START = {0: 0, 1: 5, 2: 12}
HIGH = {0: 8, 1: 20, 2: 30}
ANALYTICS = {0: 6, 1: 3, 2: None}  # partition 1: below its log start (5), lost
AUDIT = {0: 8, 1: 20, 2: 25}


def sample(
    ts_ms: int,
    log_start: dict[int, int],
    high: dict[int, int],
    ends: dict[int, list[tuple[int, int]]] | None = None,
) -> ClusterSample:
    return ClusterSample(
        ts_ms=ts_ms,
        brokers=[BrokerRow(0, "127.0.0.1", 9092)],
        partitions=[
            PartitionRow(
                "tweets",
                p,
                0,
                [0, 1, 2],
                [0, 1, 2],
                log_start[p],
                high[p],
                log_ends=(ends or {}).get(p, ()),
            )
            for p in log_start
        ],
        groups=[
            GroupRow("analytics", "Stable", "consumer", "range", 1),
            GroupRow("audit", "Empty", "consumer", "", 0),
        ],
        commits=[
            *(CommitRow("analytics", "tweets", p, c) for p, c in ANALYTICS.items()),
            *(CommitRow("audit", "tweets", p, c) for p, c in AUDIT.items()),
        ],
    )


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    store = Store(path)
    store.write_sample(sample(NOW, LOG_START, HIGH))
    return store


def partitions_page() -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/partitions.py").run()
    assert not app.exception, app.exception
    return app


def strip_data(app: AppTest) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The strip's spans (cells or ranges) and markers, as the chart draws them."""
    element = app.get("vega_lite_chart")[0]
    spec = json.loads(element.proto.spec)
    drawn = [layer["mark"]["type"] for layer in spec["layer"]]
    assert drawn == ["rect", "text", "tick", "text", "text", "text"]
    named = {
        d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas()
        for d in element.proto.datasets
    }
    spans = named[spec["layer"][0]["data"]["name"]]
    markers = named[spec["layer"][2]["data"]["name"]]
    return spans, markers


def offsets(spans: pd.DataFrame, partition: int, kind: str) -> list[int]:
    chosen = spans[(spans["partition"] == partition) & (spans["kind"] == kind)]
    return sorted(chosen["start"])


def marked(markers: pd.DataFrame, partition: int) -> set[tuple[str, int, str]]:
    rows = markers[markers["partition"] == partition]
    return set(zip(rows["mark"], rows["offset"], rows["label"], strict=True))


def test_each_offset_is_a_numbered_cell_with_log_start_hw_and_group_markers(store):
    app = partitions_page()
    assert "The partitions as logs" in [h.value for h in app.main.subheader]
    spans, markers = strip_data(app)
    for p in LOG_START:
        assert offsets(spans, p, "deleted by retention") == list(range(LOG_START[p]))
        assert offsets(spans, p, "stored") == list(range(LOG_START[p], HIGH[p]))
    stored = spans[(spans["partition"] == 2) & (spans["kind"] == "stored")]
    assert list(stored["label"]) == [str(o) for o in range(12, 30)]
    assert marked(markers, 0) == {
        ("log start", 0, "log start 0"),
        ("high watermark", 8, "HW 8"),
        ("committed", 6, "analytics 6"),
        ("committed", 8, "audit 8"),
    }
    assert marked(markers, 2) == {  # analytics has no commit on partition 2: no marker
        ("log start", 12, "log start 12"),
        ("high watermark", 30, "HW 30"),
        ("committed", 25, "audit 25"),
    }
    captions = " ".join(c.value for c in app.caption)
    assert "One cell per offset" in captions


def test_a_group_below_the_log_start_is_shown_restarting_from_auto_offset_reset(store):
    app = partitions_page()
    _, markers = strip_data(app)
    assert ("committed, below log start", 3, "analytics 3: lost") in marked(markers, 1)
    lost = markers[markers["mark"] == "committed, below log start"]
    assert list(zip(lost["group"], lost["partition"], strict=True)) == [("analytics", 1)]
    captions = " ".join(c.value for c in app.caption)
    assert "Group analytics's committed offset 3 on partition 1 is below the log start" in captions
    assert "auto.offset.reset" in captions


def test_retention_moving_the_log_start_shows_on_the_next_run(store):
    app = partitions_page()
    store.write_sample(sample(NOW + 1000, {0: 4, 1: 10, 2: 12}, HIGH))
    app.run()
    spans, markers = strip_data(app)
    assert offsets(spans, 0, "deleted by retention") == [0, 1, 2, 3]
    assert offsets(spans, 0, "stored") == [4, 5, 6, 7]
    assert ("log start", 4, "log start 4") in marked(markers, 0)
    # analytics' commit 6 on partition 0 is still above the new log start; audit's on 1 too.
    assert ("committed", 6, "analytics 6") in marked(markers, 0)
    assert ("committed", 20, "audit 20") in marked(markers, 1)


def test_a_long_log_is_drawn_as_ranges_to_scale(store):
    store.write_sample(sample(NOW + 1000, {0: 0, 1: 40_000, 2: 12}, {0: 8, 1: 100_000, 2: 30}))
    app = partitions_page()
    spans, markers = strip_data(app)
    ranges = spans[spans["partition"] == 1].sort_values("start")
    drawn = zip(ranges["kind"], ranges["start"], ranges["end"], ranges["records"], strict=True)
    assert list(drawn) == [
        ("deleted by retention", 0, 40_000, 40_000),
        ("stored", 40_000, 100_000, 60_000),
    ]
    assert len(spans) == 5  # partition 0 deletes nothing: one range; 1 and 2 two each
    assert ("high watermark", 100_000, "HW 100000") in marked(markers, 1)
    captions = " ".join(c.value for c in app.caption)
    assert "Up to 100,000 offsets per partition: drawn as ranges to scale" in captions


def test_each_replicas_log_end_offset_is_marked_replicas_at_one_offset_together(store):
    # Partition 0: the leader and replica 1 hold 10 records, replica 2 has copied 8 (the HW).
    # Partition 2's leader is 3 records past every high watermark: the axis reaches it.
    ends = {0: [(0, 10), (1, 10), (2, 8)], 1: [(1, 20), (2, 20), (0, 20)], 2: [(2, 33)]}
    store.write_sample(sample(NOW + 1000, LOG_START, HIGH, ends))
    app = partitions_page()
    _, markers = strip_data(app)
    leo = markers[markers["mark"] == "log end offset"]
    shown = set(zip(leo["partition"], leo["offset"], leo["label"], strict=True))
    assert shown == {
        (0, 8, "LEO 8: replica 2"),
        (0, 10, "LEO 10: replicas 0,1"),
        (1, 20, "LEO 20: replicas 0,1,2"),
        (2, 33, "LEO 33: replica 2"),  # replicas 0 and 1 did not answer: no marker
    }
    spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"][1] >= 33
    table = app.dataframe[0].value
    assert list(table["log_end_offsets"])[:2] == ["0:10,1:10,2:8", "1:20,2:20,0:20"]
