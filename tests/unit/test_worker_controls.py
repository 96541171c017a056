"""The worker record and the worker controls without a broker: sleeping child processes of
this test stand for workers, started by a WorkerGroup as ``up`` starts them. Only a worker the
record names, alive as recorded, is signalled; an add is a request ``up`` serves; every
refusal is one line."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chirpstream import workers
from chirpstream.controls import ControlError
from chirpstream.run_file import Process, own_process
from chirpstream.services import Service

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def group(tmp_path: Path) -> Iterator[workers.WorkerGroup]:
    def spawn(index: int) -> Service:
        process = subprocess.Popen([*SLEEP, str(index)])
        return Service(f"worker {index}", process, tmp_path / "w.log", 0, None, 5.0)  # type: ignore[arg-type]

    started = workers.WorkerGroup(tmp_path, "analytics", spawn, own_process())
    yield started
    started.stop()


def test_the_record_names_each_started_worker_and_reads_back(tmp_path, group):
    first, second = group.add(), group.add()
    record = workers.read(tmp_path)
    assert record is not None and record.group == "analytics" and record.up == own_process()
    assert [(w.index, w.pid) for w in record.workers] == [
        (0, first.process.pid),
        (1, second.process.pid),
    ]
    assert [w.index for w in workers.workers(tmp_path)] == [0, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workers.json"]  # no temporary left


def test_an_add_is_a_request_up_serves_with_the_next_index(tmp_path, group):
    group.add()
    workers.add_worker(tmp_path)
    workers.add_worker(tmp_path)
    assert len(workers.pending_adds(tmp_path)) == 2
    started = group.serve_requests()
    assert [s.name for s in started] == ["worker 1", "worker 2"]
    assert workers.pending_adds(tmp_path) == []
    assert [w.index for w in workers.workers(tmp_path)] == [0, 1, 2]


def test_adds_stop_at_the_most_workers(tmp_path, group, monkeypatch):
    monkeypatch.setattr(workers, "MAX_WORKERS", 2)
    group.add()
    workers.add_worker(tmp_path)
    with pytest.raises(ControlError, match="at most 2"):
        workers.add_worker(tmp_path)


def test_remove_stops_the_newest_and_up_drops_it_from_the_record(tmp_path, group):
    group.add(), group.add()
    assert workers.remove_worker(tmp_path) == 1
    group.running[1].process.wait(10)
    exited = group.reap()
    assert [(index, code) for index, _, code in exited] == [(1, -signal.SIGTERM)]
    assert [w.index for w in workers.read(tmp_path).workers] == [0]
    assert workers.remove_worker(tmp_path, 0) == 0


def test_a_worker_not_running_is_refused_in_one_line(tmp_path, group):
    group.add()
    with pytest.raises(ControlError, match=r"^worker 5 is not running; the running workers are 0$"):
        workers.signal_worker(tmp_path, 5, signal.SIGKILL)


def test_a_reused_pid_is_left_alone(tmp_path, group):
    """The record names a pid whose command line is no longer the worker's: nothing is sent."""
    group.add()
    record = workers.read(tmp_path)
    worker = record.workers[0]
    other = workers.WorkerRecord(0, Process(worker.pid, ["another", "program"]))
    workers.write(tmp_path, workers.WorkersRecord(record.up, record.group, [other]))
    with pytest.raises(ControlError, match="worker 0 is not running"):
        workers.signal_worker(tmp_path, 0, signal.SIGKILL)
    assert group.running[0].process.poll() is None


def test_without_a_running_up_the_controls_say_so(tmp_path, capsys):
    assert workers.main(["--data-dir", str(tmp_path), "--add"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    gone = Process(own_process().pid, ["python", "-m", "chirpstream", "up", "long", "gone"])
    workers.write(tmp_path, workers.WorkersRecord(gone, "analytics", []))
    with pytest.raises(ControlError, match="is no longer running"):
        workers.remove_worker(tmp_path)


def test_the_listing_and_a_clean_stop(tmp_path, group, capsys):
    group.add()
    assert workers.main(["--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["WORKER", "PID", "STATE", "GROUP"]
    assert lines[1].split() == ["0", str(group.running[0].process.pid), "running", "analytics"]
    group.stop()
    assert not workers.record_path(tmp_path).exists()
