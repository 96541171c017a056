"""``<data-dir>/run.json``: the processes one ``chirpstream cluster`` run started, so that
``chirpstream brokers --kill ID`` and the dashboard's controls can act on them and on
nothing else.

The supervisor (the ``chirpstream cluster`` process) rewrites the file whenever a node starts,
stops or restarts (a temporary file renamed over it: a reader sees the old file or the new
one, never half of one) and removes it at a clean shutdown. Every process it names is recorded
with its command line; ``Process.alive()`` is true only while ``/proc/<pid>/cmdline`` still
reads exactly that, so a pid the kernel has since given to another program is never taken
for a node.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
EXEC_RETRIES, EXEC_RETRY_S = 50, 0.01
REQUESTS = "requests"  # <data-dir>/requests/restart-<id>: a node the supervisor is to restart


@dataclass(frozen=True)
class Process:
    """A pid and the command line it was started with."""

    pid: int
    argv: list[str]

    def alive(self) -> bool:
        """Running (or paused) and still this program: not exited, not a reused pid."""
        return command_line(self.pid) == self.argv and process_state(self.pid) not in ("Z", None)

    def paused(self) -> bool:
        """Stopped by SIGSTOP (``T`` in ``/proc/<pid>/stat``)."""
        return self.alive() and process_state(self.pid) == "T"


@dataclass(frozen=True)
class NodeRecord:
    """One node of the cluster: where it listens, where it logs, and its process (None while
    it is not running)."""

    node_id: int
    roles: str
    client_address: str | None
    controller_address: str | None
    log: str
    argv: list[str]
    process: Process | None = None
    ready: bool = False  # its current process has printed its READY line
    exit_code: int | None = None  # how its last process ended, once it has

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid


@dataclass(frozen=True)
class RunRecord:
    """What ``chirpstream cluster`` started: itself (the supervisor) and its nodes."""

    data_dir: str
    bootstrap: str
    supervisor: Process
    nodes: list[NodeRecord] = field(default_factory=list)

    def node(self, node_id: int) -> NodeRecord | None:
        return next((n for n in self.nodes if n.node_id == node_id), None)

    def serves(self, bootstrap: str) -> bool:
        """Whether ``bootstrap`` (``host:port,...``) names one of these nodes."""
        ours = {n.client_address for n in self.nodes} | {
            f"localhost:{n.client_address.rpartition(':')[2]}"
            for n in self.nodes
            if n.client_address
        }
        return any(address.strip() in ours for address in bootstrap.split(","))

    @property
    def controllers(self) -> str:
        """The voters' controller listeners, for ``--bootstrap-controller``."""
        return ",".join(n.controller_address for n in self.nodes if n.controller_address)


def command_line(pid: int) -> list[str] | None:
    """The arguments ``pid`` runs with, or None when there is no such process. A process
    caught in the middle of its exec shows none for a moment: it is asked again."""
    for _ in range(EXEC_RETRIES):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        if raw or process_state(pid) in ("Z", None):
            break
        time.sleep(EXEC_RETRY_S)
    return raw.decode(errors="surrogateescape").split("\0")[:-1]


def process_state(pid: int) -> str | None:
    """The state letter of ``/proc/<pid>/stat`` (R, S, D, T, Z, ...), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]  # the name in parentheses may hold spaces


def own_process() -> Process:
    """This process as a run file records it."""
    return Process(os.getpid(), command_line(os.getpid()) or [])


def write(path: Path, record: RunRecord) -> None:
    """Replace ``path`` with ``record`` atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(temporary, path)


def read(path: Path) -> RunRecord | None:
    """The record at ``path``; None when there is none (or it cannot be read as one)."""
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
        return RunRecord(
            data_dir=raw["data_dir"],
            bootstrap=raw["bootstrap"],
            supervisor=Process(**raw["supervisor"]),
            nodes=[
                NodeRecord(**{**node, "process": node["process"] and Process(**node["process"])})
                for node in raw["nodes"]
            ],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live(path: Path) -> RunRecord | None:
    """The record at ``path`` while the supervisor that wrote it is still running."""
    record = read(path)
    if record is None or not record.supervisor.alive():
        return None
    return record
