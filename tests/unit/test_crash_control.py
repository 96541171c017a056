"""The crash-before-commit control without a broker: a child process that records the signal
it gets stands for a worker ``up`` started; the control sends SIGUSR1 to the one asked for
(default the oldest), and only to a recorded worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chirpstream import workers
from chirpstream.controls import ControlError
from tests.support.fault_workers import exit_codes, fault_taking_group


@pytest.fixture
def group(tmp_path: Path) -> Iterator[workers.WorkerGroup]:
    started = fault_taking_group(tmp_path)
    yield started
    started.stop()


def test_the_oldest_worker_gets_the_fault_by_default(tmp_path, group, capsys):
    group.add(), group.add()
    assert workers.main(["--data-dir", str(tmp_path), "--crash-before-commit"]) == 0
    assert "worker 0 dies at its next commit point" in capsys.readouterr().out
    assert exit_codes(group) == {0: 86, 1: None}


def test_the_worker_named_gets_the_fault(tmp_path, group):
    group.add(), group.add()
    assert workers.crash_before_commit(tmp_path, 1) == 1
    assert exit_codes(group) == {0: None, 1: 86}


def test_a_worker_not_running_is_refused_in_one_line(tmp_path, group, capsys):
    group.add()
    assert workers.main(["--data-dir", str(tmp_path), "--crash-before-commit", "4"]) == 1
    assert capsys.readouterr().err == (
        "error: worker 4 is not running; the running workers are 0\n"
    )
    with pytest.raises(ControlError, match="no pipeline runs"):
        workers.crash_before_commit(tmp_path / "elsewhere")
    assert group.running[0].process.poll() is None
