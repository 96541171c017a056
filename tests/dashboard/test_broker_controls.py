"""The Cluster page's broker controls under AppTest, on the prepared store of
``test_cluster_page`` (brokers 0-2 on 127.0.0.1:9092-9094) and a run file whose supervisor and
nodes are sleeping child processes of this test: a control asks once, then signals the
recorded process, and the page shows what the process says (stopped, paused). Without a
running cluster's run file there are no controls, and one line says why."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from chirpstream import run_file
from chirpstream.run_file import NodeRecord, Process, RunRecord
from dashboard.ui import RUN_FILE_ENV
from tests.dashboard.test_cluster_page import store  # noqa: F401 (the prepared store)
from tests.dashboard.test_pages import run


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The supervisor and nodes 0, 1 and 2."""
    children = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) for _ in range(4)
    ]
    yield children
    for child in children:
        child.kill()
        child.wait()


@pytest.fixture
def bundled(tmp_path, monkeypatch, sleepers) -> list[subprocess.Popen[bytes]]:
    supervisor, *nodes = sleepers
    path = tmp_path / "cluster" / run_file.RUN_FILE
    path.parent.mkdir()
    records = [
        NodeRecord(k, "broker,controller", f"127.0.0.1:{9092 + k}", f"127.0.0.1:{9192 + k}",
                   "node.log", node.args, Process(node.pid, node.args), ready=True)
        for k, node in enumerate(nodes)
    ]  # fmt: skip
    supervising = Process(supervisor.pid, supervisor.args)
    run_file.write(path, RunRecord(str(path.parent), "127.0.0.1:9092", supervising, records))
    monkeypatch.setenv(RUN_FILE_ENV, str(path))
    return nodes


def states(app) -> dict[int, str]:
    table = app.dataframe[0].value
    return dict(zip(table["node_id"], table["state"], strict=True))


def prompts(app) -> list[str]:
    """The confirmations the page asks for, not its other warnings (such as the prepared
    store's samples being minutes old by the time the whole suite reaches this test)."""
    return [w.value for w in app.warning if "? (" in w.value]


def test_no_controls_without_a_running_bundled_cluster(store):  # noqa: F811
    app = run("cluster.py")  # the store's run file is not there
    assert not [b for b in app.button if b.key and b.key.startswith("broker-")]
    assert any(
        "No controls: they act only on the cluster `chirpstream up` or `chirpstream cluster`"
        in caption.value
        for caption in app.caption
    )


def test_kill_asks_once_then_kills_the_recorded_process(store, bundled):  # noqa: F811
    app = run("cluster.py")
    assert {b.key for b in app.button} >= {
        f"broker-{action}-{k}" for action in ("stop", "kill", "pause", "restart") for k in (0, 2)
    }
    assert app.dataframe[0].value["pid"].tolist() == [n.pid for n in bundled]

    app.button(key="broker-kill-2").click().run()
    assert prompts(app) == ["Kill broker 2? (SIGKILL: a crash, nothing handed over)"]
    assert bundled[2].poll() is None, "nothing happens before the confirmation"
    app.button(key="broker-cancel").click().run()
    assert not prompts(app) and bundled[2].poll() is None

    app.button(key="broker-kill-2").click().run()
    app.button(key="broker-confirm").click().run()
    assert bundled[2].wait(10) == -9
    assert [s.value for s in app.success] == [f"broker 2 killed (SIGKILL to pid {bundled[2].pid})"]
    app.run()
    assert states(app)[2] == "stopped"
    assert app.button(key="broker-kill-2").disabled
    assert not app.button(key="broker-restart-2").disabled


def test_pause_shows_paused_and_offers_resume(store, bundled):  # noqa: F811
    app = run("cluster.py")
    app.button(key="broker-pause-0").click().run()
    app.button(key="broker-confirm").click().run()
    assert run_file.process_state(bundled[0].pid) == "T"
    assert states(app)[0] == "paused"
    app.button(key="broker-resume-0").click().run()
    app.button(key="broker-confirm").click().run()
    assert run_file.process_state(bundled[0].pid) == "S"
    assert states(app)[0] == "running"


def test_a_controller_whose_process_is_gone_is_not_marked_the_controller(store, bundled):  # noqa: F811
    """The newest sample still names broker 0 the active controller (the collector has not
    sampled since it died); the run file says its process is gone, so the page does not."""
    app = run("cluster.py")
    assert app.dataframe[0].value["controller"].tolist() == [True, False, False]
    bundled[0].kill()
    bundled[0].wait()
    app.run()
    assert states(app)[0] == "stopped"
    assert app.dataframe[0].value["controller"].tolist() == [False, False, False]
