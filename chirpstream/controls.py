"""The broker controls of the bundled cluster, shared by ``chirpstream brokers --kill ID``
(and ``--stop``, ``--pause``, ``--resume``, ``--restart``) and the dashboard's Cluster page.

- stop: SIGTERM, the broker's controlled shutdown (a paused broker is resumed first, or it
  would never see the signal);
- kill: SIGKILL, a crash;
- pause: SIGSTOP, a hung broker: it keeps its connections and its sessions but answers
  nothing; resume: SIGCONT;
- restart: asks the supervisor (``chirpstream cluster``) to stop the node if it runs and start
  it again, by a request file in its data directory: the supervisor starts every node, so a
  restarted node is still its child, stopped by its Ctrl-C and dying with it.

Only the processes the run file (``chirpstream.run_file``) names can be signalled, and each
only while ``/proc/<pid>/cmdline`` still reads as recorded: the check and the signal go
through one pidfd, so the pid cannot be handed to another program in between.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from chirpstream import run_file
from chirpstream.run_file import NodeRecord, Process, RunRecord

ACTIONS = ("stop", "kill", "pause", "resume", "restart")
DEFAULT_DATA_DIR = Path("data/cluster")  # where `chirpstream cluster` and `chirpstream up` run
POLL_S = 0.05


class ControlError(Exception):
    """An action that cannot be taken; the message is one line saying why."""


def node_state(node: NodeRecord) -> str:
    """running, paused or stopped, from the node's process alone."""
    if node.process is None or not node.process.alive():
        return "stopped"
    return "paused" if node.process.paused() else "running"


def load(data_dir: Path) -> tuple[Path, RunRecord]:
    """The run file of the cluster running in ``data_dir`` and its record, or ControlError."""
    path = data_dir / run_file.RUN_FILE
    record = run_file.read(path)
    if record is None:
        raise ControlError(
            f"no bundled cluster runs in {data_dir}/ (no {run_file.RUN_FILE}): the broker "
            "controls act only on the cluster `chirpstream up` or `chirpstream cluster` started; "
            "pass the --data-dir it runs in"
        )
    if not record.supervisor.alive():
        raise ControlError(
            f"the cluster recorded in {path} is no longer running (its `chirpstream cluster`, "
            f"pid {record.supervisor.pid}, has exited)"
        )
    return path, record


def act(data_dir: Path, action: str, node_id: int, wait_s: float = 0.0) -> str:
    """Take ``action`` on node ``node_id``; one line saying what was done. With ``wait_s``,
    wait that long at most for the node to reach the state asked for."""
    path, record = load(data_dir)
    node = record.node(node_id)
    if node is None:
        ids = ", ".join(str(n.node_id) for n in record.nodes)
        raise ControlError(f"broker {node_id} is not in this cluster; its brokers are {ids}")
    state = node_state(node)
    name = f"broker {node_id}"
    if action == "restart":
        requests = path.parent / run_file.REQUESTS
        requests.mkdir(exist_ok=True)
        (requests / f"restart-{node_id}").write_text(f"{os.getpid()}\n")
        if wait_s:
            return _wait_restarted(path, node, wait_s)
        return f"{name}: restart requested from the cluster's supervisor"
    if node.process is None or state == "stopped":
        raise ControlError(f"{name} is not running: `--restart {node_id}` starts it again")
    process = node.process
    if action == "pause":
        if state == "paused":
            raise ControlError(f"{name} is already paused: `--resume {node_id}` resumes it")
        send(process, signal.SIGSTOP)
        _wait_until(process.paused, wait_s)
        return f"{name} paused (SIGSTOP to pid {process.pid}): it answers nothing until resumed"
    if action == "resume":
        if state != "paused":
            raise ControlError(f"{name} is not paused")
        send(process, signal.SIGCONT)
        return f"{name} resumed (SIGCONT to pid {process.pid})"
    if action == "kill":
        send(process, signal.SIGKILL)
        gone = _wait_until(lambda: not process.alive(), wait_s)
        return f"{name} killed (SIGKILL to pid {process.pid})" + ("" if gone else "; still exiting")
    if action == "stop":
        if state == "paused":
            send(process, signal.SIGCONT)
        send(process, signal.SIGTERM)
        gone = _wait_until(lambda: not process.alive(), wait_s)
        done = "stopped" if gone else "stopping"
        return f"{name} {done} (SIGTERM to pid {process.pid}: a controlled shutdown)"
    raise ValueError(f"unknown action {action!r}")


def send(process: Process, sig: signal.Signals) -> None:
    """Signal ``process`` if it is still the program recorded, else ControlError."""
    try:
        fd = os.pidfd_open(process.pid)
    except ProcessLookupError:
        raise ControlError(f"pid {process.pid} has exited") from None
    try:
        if not process.alive():  # checked after the pidfd is held: the pid is pinned
            raise ControlError(
                f"pid {process.pid} is no longer the recorded process (its command line "
                "changed): nothing was signalled"
            )
        signal.pidfd_send_signal(fd, sig)
    finally:
        os.close(fd)


def _wait_until(done: Callable[[], bool], wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def _wait_restarted(path: Path, before: NodeRecord, wait_s: float) -> str:
    """Until the run file shows the node running again, ready, as a new process."""
    name = f"broker {before.node_id}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        record = run_file.read(path)
        if record is None or not record.supervisor.alive():
            raise ControlError(f"the cluster stopped before {name} was restarted")
        node = record.node(before.node_id)
        if node is not None and node.ready and node.pid not in (None, before.pid):
            return f"{name} restarted: pid {node.pid}, ready"
        time.sleep(POLL_S * 4)
    with contextlib.suppress(OSError):
        (path.parent / run_file.REQUESTS / f"restart-{before.node_id}").unlink()
    raise ControlError(f"{name} was not running again within {wait_s:.0f} s; see {before.log}")
