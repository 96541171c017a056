"""The run file and the broker controls without a cluster: a sleeping child process of this
test stands for a node. Only a process whose command line is still the recorded one can be
signalled (a pid the kernel handed to another program is left alone), and every refusal is
one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chirpstream import controls, run_file
from chirpstream.run_file import NodeRecord, Process, RunRecord


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def record_of(data_dir: Path, node: Process | None, supervisor: Process | None = None) -> None:
    argv = node.argv if node is not None else ["python", "-m", "broker"]
    run_file.write(
        data_dir / run_file.RUN_FILE,
        RunRecord(
            str(data_dir),
            "127.0.0.1:9092",
            supervisor or run_file.own_process(),
            [
                NodeRecord(
                    0,
                    "broker,controller",
                    "127.0.0.1:9092",
                    "127.0.0.1:9192",
                    "node.log",
                    argv,
                    node,
                )
            ],
        ),
    )


def test_the_run_file_reads_back_what_was_written(tmp_path, sleeper):
    process = Process(sleeper.pid, sleeper.args)
    record_of(tmp_path, process)
    read = run_file.read(tmp_path / run_file.RUN_FILE)
    assert read is not None and read.node(0) is not None
    assert read.node(0).process == process
    assert read.serves("localhost:9092") and not read.serves("127.0.0.1:9093")
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left


def test_a_recorded_process_is_paused_resumed_and_killed(tmp_path, sleeper):
    record_of(tmp_path, Process(sleeper.pid, sleeper.args))
    assert controls.act(tmp_path, "pause", 0, 5) == (
        f"broker 0 paused (SIGSTOP to pid {sleeper.pid}): it answers nothing until resumed"
    )
    assert controls.node_state(run_file.read(tmp_path / "run.json").node(0)) == "paused"
    assert controls.act(tmp_path, "resume", 0).startswith("broker 0 resumed")
    controls.act(tmp_path, "kill", 0)
    assert sleeper.wait(10) == -9


def test_a_pid_running_another_program_is_never_signalled(tmp_path, sleeper):
    # As after the node died and the kernel gave its pid to something else.
    record_of(tmp_path, Process(sleeper.pid, [sys.executable, "-m", "broker", "x.properties"]))
    node = run_file.read(tmp_path / "run.json").node(0)
    assert controls.node_state(node) == "stopped"
    with pytest.raises(controls.ControlError, match="broker 0 is not running"):
        controls.act(tmp_path, "kill", 0)
    with pytest.raises(controls.ControlError, match="no longer the recorded process"):
        controls.send(node.process, controls.signal.SIGKILL)
    assert sleeper.poll() is None, "the other program is untouched"


def test_without_a_live_supervisor_nothing_is_done(tmp_path, sleeper):
    with pytest.raises(controls.ControlError) as missing:
        controls.act(tmp_path, "kill", 0)
    assert str(missing.value) == (
        f"no bundled cluster runs in {tmp_path}/ (no run.json): the broker controls act only on "
        "the cluster `chirpstream up` or `chirpstream cluster` started; pass the --data-dir it "
        "runs in"
    )
    record_of(tmp_path, Process(sleeper.pid, sleeper.args), supervisor=Process(sleeper.pid, ["x"]))
    with pytest.raises(controls.ControlError, match="is no longer running"):
        controls.act(tmp_path, "kill", 0)
    assert run_file.live(tmp_path / "run.json") is None
    assert sleeper.poll() is None


def test_an_unknown_broker_is_named_with_the_ones_there_are(tmp_path, sleeper):
    record_of(tmp_path, Process(sleeper.pid, sleeper.args))
    with pytest.raises(controls.ControlError) as unknown:
        controls.act(tmp_path, "stop", 5)
    assert str(unknown.value) == "broker 5 is not in this cluster; its brokers are 0"


def test_a_restart_is_a_request_left_for_the_supervisor(tmp_path, sleeper):
    record_of(tmp_path, Process(sleeper.pid, sleeper.args))
    assert controls.act(tmp_path, "restart", 0) == (
        "broker 0: restart requested from the cluster's supervisor"
    )
    assert (tmp_path / "requests" / "restart-0").exists()
    assert sleeper.poll() is None  # the supervisor stops it, not the requester
