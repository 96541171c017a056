"""The cluster's events as markers on the time charts of the Overview, Partitions and Groups
pages, under AppTest on a store this test fills: a leader election of ``tweets-0``, one of
another topic, a broker fenced, and rebalances of ``analytics`` and of another group. Each
chart draws a rule for exactly the events that concern it, with the event's text."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.cluster_events import diff
from dashboard.rows import BrokerRow, GroupRow, PartitionRow
from dashboard.store import Store
from dashboard.ui import STORE_ENV
from tests.dashboard.test_pages import AFTER, BEFORE, COMMITTED, NOW, run, sample

ELECTION = "Leader of tweets-0: 0 → 2 (epoch 3 → 4)"
ELSEWHERE = "Leader of clicks-0: 0 → 1 (epoch 1 → 2)"
FENCED = "Broker 1: running → fenced"
REBALANCE = "Group analytics rebalanced: generation 7 → 8 (2 members)"
OTHER_GROUP = "Group analytics-2 rebalanced: generation 1 → 2 (1 members)"


def with_cluster(at: dict, ts_ms: int, *, moved: bool) -> object:
    """A sample of ``tweets`` at offsets ``at``, plus ``clicks``, two brokers and two groups;
    ``moved``: after the events (new leaders, broker 1 fenced, new generations)."""
    base = sample(ts_ms, at, COMMITTED)
    partitions = [dataclasses.replace(p, leader_epoch=3) for p in base.partitions]
    if moved:
        partitions[0] = dataclasses.replace(partitions[0], leader=2, leader_epoch=4)
    partitions.append(
        PartitionRow("clicks", 0, 1 if moved else 0, [0, 1], [0, 1], 0, 5, 2 if moved else 1)
    )
    brokers = [
        BrokerRow(0, "127.0.0.1", 9092),
        dataclasses.replace(
            BrokerRow(1, "127.0.0.1", 9093), state="fenced" if moved else "running"
        ),
    ]
    groups = [
        GroupRow("analytics", "Stable", "consumer", "cooperative-sticky", 2, 8 if moved else 7),
        GroupRow("analytics-2", "Stable", "consumer", "range", 1, 2 if moved else 1),
    ]
    return dataclasses.replace(base, partitions=partitions, brokers=brokers, groups=groups)


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    store = Store(path)
    first = with_cluster(BEFORE, NOW - 2000, moved=False)
    second = with_cluster(BEFORE, NOW - 1000, moved=False)
    third = with_cluster(AFTER, NOW, moved=True)
    third.events = diff(second, third)
    assert {e.text for e in third.events} == {ELECTION, ELSEWHERE, FENCED, REBALANCE, OTHER_GROUP}
    for each in (first, second, third):
        store.write_sample(each)
    return store


def markers(app: AppTest) -> list[set[str]]:
    """Per time chart of the page, the texts of the events it marks with a rule."""
    found = []
    for element in app.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        named = {
            d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas()
            for d in element.proto.datasets
        }
        rules = [
            layer
            for layer in spec.get("layer", [])
            if (layer.get("mark") or {}).get("type") == "rule"
        ]
        texts: set[str] = set()
        for layer in rules:
            data: pd.DataFrame = named[layer["data"]["name"]]
            texts |= set(data["text"])
            tooltip = {t["field"] for t in layer["encoding"]["tooltip"]}
            assert {"time", "event", "text"} <= tooltip
        found.append(texts)
    return found


def test_the_overview_marks_its_topics_events_and_the_groups_rebalances(store):
    app = run("overview.py")
    by_topic, by_partition, consumed = markers(app)
    assert by_topic == {ELECTION, ELSEWHERE, FENCED}
    assert by_partition == {ELECTION, FENCED}
    assert consumed == {FENCED, REBALANCE}  # analytics-2 commits nothing: not on the chart


def test_lag_charts_mark_only_their_groups_rebalances(store):
    lag = markers(run("groups.py"))[-1]
    assert lag == {ELECTION, FENCED, REBALANCE}
    _strip, _skew, high, start, group_lag = markers(run("partitions.py"))
    assert high == start == {ELECTION, FENCED}
    assert group_lag == {ELECTION, FENCED, REBALANCE}


def test_a_chart_without_events_in_its_span_has_no_rules(tmp_path, monkeypatch):
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    store = Store(path)
    store.write_sample(with_cluster(BEFORE, NOW - 1000, moved=False))
    store.write_sample(with_cluster(AFTER, NOW, moved=False))
    assert all(texts == set() for texts in markers(run("overview.py")))
