"""The key's journey page under AppTest, on a store this test fills: the steps shown for a
typed key, and which of the live tail's keys would move with one partition more, checked
against kafka-python's own murmur2 (another implementation than the page's)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2
from streamlit.testing.v1 import AppTest

from dashboard.rows import BrokerRow, ClusterSample, PartitionRow, TailRow
from dashboard.store import Store
from dashboard.ui import STORE_ENV

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
NOW = time.time_ns() // 1_000_000
PARTITIONS = 6
TAIL_KEYS = [str(author) for author in range(40)] + ["7", "7"]  # a repeated key counts once


def placed(key: str, partitions: int) -> int:
    return (kafka_murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    store = Store(path)
    store.write_sample(
        ClusterSample(
            ts_ms=NOW,
            brokers=[BrokerRow(0, "127.0.0.1", 9092)],
            partitions=[PartitionRow("tweets", p, 0, [0], [0], 0, 100) for p in range(PARTITIONS)],
        )
    )
    store.write_tail(
        TailRow(placed(key, PARTITIONS), i, NOW - i, key, "u", "en", "text")
        for i, key in enumerate(TAIL_KEYS)
    )
    return store


def keys_page() -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/keys.py").run()
    assert not app.exception, app.exception
    return app


def test_the_steps_shown_for_a_typed_key(store):
    app = keys_page()
    app.text_input(key="journey_key").set_value("ada").run()
    steps = app.dataframe[0].value
    shown = dict(zip(steps["step"], steps["value"], strict=True))
    hashed = kafka_murmur2(b"ada")
    signed = hashed - 2**32 if hashed >= 2**31 else hashed
    assert shown == {
        "key": "'ada'",
        "bytes": "61 64 61",
        "murmur2": str(signed),
        "positive": str(hashed & 0x7FFFFFFF),
        "partition": str(placed("ada", PARTITIONS)),
    }
    how = dict(zip(steps["step"], steps["how"], strict=True))
    assert how["partition"] == f"{hashed & 0x7FFFFFFF} % {PARTITIONS}"
    headings = [h.value for h in app.main.subheader]
    assert f"Key 'ada' goes to partition {placed('ada', PARTITIONS)} of 6" in headings


def test_the_keys_that_would_move_with_one_partition_more(store):
    app = keys_page()
    assert app.text_input(key="journey_key").value == TAIL_KEYS[0]  # the newest tail key
    assert "What if tweets had 7 partitions?" in [h.value for h in app.main.subheader]
    distinct = list(dict.fromkeys(TAIL_KEYS))
    moving = [k for k in distinct if placed(k, PARTITIONS) != placed(k, PARTITIONS + 1)]
    assert 0 < len(moving) < len(distinct)
    table = app.dataframe[1].value
    assert sorted(table["key"]) == sorted(moving)
    for row in table.itertuples():
        assert (row.now, row.after) == (placed(row.key, 6), placed(row.key, 7))
    captions = " ".join(c.value for c in app.caption)
    assert f"{len(moving)} of the {len(distinct)} recent keys would land on another" in captions
    element = app.get("vega_lite_chart")[0]
    spec = json.loads(element.proto.spec)
    grid = pa.ipc.open_stream(element.proto.datasets[0].data.data).read_all().to_pandas()
    assert spec["layer"][0]["mark"]["type"] == "rect"
    assert grid["keys"].sum() == len(distinct)
    assert grid.loc[grid["moves"], "keys"].sum() == len(moving)
