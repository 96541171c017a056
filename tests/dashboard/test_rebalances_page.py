"""The Rebalances page under AppTest on a store this test fills: an eager group's two
generations and the two seconds every partition had no owner between them; a scene's two
timelines (from callbacks this test writes); and the worker controls, present only for a
running ``up``'s workers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from chirpstream import workers
from chirpstream.run_file import own_process
from chirpstream.services import Service
from dashboard.rebalance import Callback
from dashboard.rebalance_scene import SceneResult
from dashboard.rows import BrokerRow, ClusterSample, GroupRow, MemberRow, PartitionRow
from dashboard.store import Store
from dashboard.ui import PIPELINE_DIR_ENV, STORE_ENV

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
NOW = time.time_ns() // 1_000_000 // 1000 * 1000
BEFORE = {"analytics-0-1": [0, 1, 2], "analytics-1-2": [3, 4, 5]}
AFTER = {"analytics-0-1": [0, 1], "analytics-1-2": [2, 3], "analytics-2-3": [4, 5]}


def sample(second: int, state: str, generation: int | None, owners: dict[str, list[int]]):
    return ClusterSample(
        ts_ms=NOW + second * 1000,
        brokers=[BrokerRow(0, "127.0.0.1", 9092)],
        partitions=[PartitionRow("tweets", p, 0, [0], [0], 0, 100) for p in range(6)],
        groups=[GroupRow("analytics", state, "consumer", "range" if owners else "", 3, generation)],
        members=[
            MemberRow("analytics", f"m-{c}", c, "/127.0.0.1", [("tweets", p) for p in owned])
            for c, owned in owners.items()
        ],
    )


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "dashboard.sqlite"
    monkeypatch.setenv(STORE_ENV, str(path))
    monkeypatch.setenv(PIPELINE_DIR_ENV, str(tmp_path))
    store = Store(path)
    for second in range(3):
        store.write_sample(sample(second, "STABLE", 1, BEFORE))
    for second in (3, 4):
        store.write_sample(sample(second, "PREPARING_REBALANCING", None, {}))
    for second in (5, 6):
        store.write_sample(sample(second, "STABLE", 2, AFTER))
    return store


def page() -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/rebalances.py").run()
    assert not app.exception, app.exception
    return app


def test_the_generations_and_the_seconds_without_an_owner(store):
    app = page()
    generations, gaps = app.dataframe[0].value, app.dataframe[1].value
    assert generations[["generation", "members"]].values.tolist() == [[1, 2], [2, 3]]
    assert gaps["partition"].tolist() == list(range(6))
    assert gaps["seconds"].tolist() == [2.0] * 6
    assert set(gaps["over"]) == {"yes"}
    assert any("protocol is eager" in c.value for c in app.caption)


def test_the_scene_side_by_side(store):
    app = page()
    eager = SceneResult("range", "g1", [
        Callback(0, "m0", "assigned", (0, 1, 2, 3, 4, 5)),
        Callback(1000, "m0", "revoked", (0, 1, 2, 3, 4, 5)),
        Callback(1250, "m0", "assigned", (0, 1, 2)),
        Callback(1250, "m1", "assigned", (3, 4, 5)),
    ], [], 2000)  # fmt: skip
    cooperative = SceneResult("cooperative-sticky", "g2", [
        Callback(0, "m0", "assigned", (0, 1, 2, 3, 4, 5)),
        Callback(1000, "m0", "revoked", (4, 5)),
        Callback(1400, "m1", "assigned", (4, 5)),
    ], [], 2000)  # fmt: skip
    app.session_state["rebalance_scene"] = {r.assignor: r.to_json() for r in (eager, cooperative)}
    app.run()
    assert not app.exception, app.exception
    stopped = [m.value for m in app.metric if m.label == "Partitions stopped"]
    assert stopped == ["6 of 6", "2 of 6"]
    eager_table, cooperative_table = app.dataframe[2].value, app.dataframe[3].value
    assert eager_table["unowned ms"].tolist() == [250] * 6
    assert cooperative_table[["partition", "unowned ms"]].values.tolist() == [[4, 400], [5, 400]]


def test_the_worker_controls_only_for_a_running_up(store, tmp_path):
    app = page()
    assert any("runs without one" in c.value for c in app.caption)
    assert not [b for b in app.button if b.key == "add_worker"]

    def spawn(index: int) -> Service:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        return Service(f"worker {index}", child, tmp_path / "w.log", 0, None, 5.0)  # type: ignore[arg-type]

    group = workers.WorkerGroup(tmp_path, "analytics", spawn, own_process())
    try:
        group.add()
        app = page()
        assert any("1 analytics workers run: worker 0" in c.value for c in app.caption)
        app.button(key="add_worker").click().run()
        assert len(workers.pending_adds(tmp_path)) == 1
    finally:
        group.stop()
