"""The analytics workers ``chirpstream up`` runs, and their controls: ``chirpstream workers``
(list, ``--add``, ``--remove [N]``, ``--crash-before-commit [N]``) and the dashboard's.

``up`` starts each worker (``python -m consumers.worker --id N``) as its own child and records
them in ``<data-dir>/workers.json`` (``up``'s data directory): ``up`` itself and, for every
worker still running, its index and its process (``run_file.Process``: pid and command line,
so a pid the kernel has since given to another program is never taken for a worker). ``up``
rewrites the file atomically whenever a worker starts or stops and removes it at a clean
shutdown.

- add: a request file in ``<data-dir>/requests/`` (as ``chirpstream brokers --restart`` asks
  the cluster's supervisor): ``up`` picks it up and starts one more worker in the same group,
  as its child, so it is stopped with the others and dies with ``up``;
- remove: SIGTERM to one recorded worker: it publishes, commits and leaves the group cleanly;
- crash before commit: SIGUSR1 to one recorded worker: it dies at its next commit point, its
  results acknowledged and its offsets not committed (``consumers.crash``), so another member
  reads that range again;
- every signal to a worker goes through ``signal_worker``: only to a worker ``up`` recorded,
  only while its process is alive as recorded (``controls.send``: checked through a pidfd).

This works the same whichever cluster ``up`` runs on (bundled or ``--bootstrap-servers``):
the workers are ``up``'s own either way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chirpstream import run_file
from chirpstream.controls import ControlError, send
from chirpstream.run_file import Process
from chirpstream.services import Service

WORKERS_FILE = "workers.json"
ADD_REQUEST = "add-worker-"  # <data-dir>/requests/add-worker-<pid>-<ns>: one more worker
# Members beyond the partition count sit idle; twice as many is enough to show that, and a
# class clicking "add" keeps the machine usable.
MAX_WORKERS = 12
DEFAULT_DATA_DIR = Path("data")  # `chirpstream up`'s default --data-dir


@dataclass(frozen=True)
class WorkerRecord:
    """One worker ``up`` started: its index (``--id``) and its process."""

    index: int
    process: Process

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass(frozen=True)
class WorkersRecord:
    """The ``up`` process, its group, and the workers it runs."""

    up: Process
    group: str
    workers: list[WorkerRecord] = field(default_factory=list)

    def worker(self, index: int) -> WorkerRecord | None:
        return next((w for w in self.workers if w.index == index), None)


def record_path(data_dir: Path) -> Path:
    return data_dir / WORKERS_FILE


def write(data_dir: Path, record: WorkersRecord) -> None:
    """Replace the record atomically: a reader sees the old file or the new one."""
    path = record_path(data_dir)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(temporary, path)


def read(data_dir: Path) -> WorkersRecord | None:
    """The record in ``data_dir``; None when there is none (or it cannot be read as one)."""
    try:
        raw: dict[str, Any] = json.loads(record_path(data_dir).read_text())
        return WorkersRecord(
            up=Process(**raw["up"]),
            group=raw["group"],
            workers=[
                WorkerRecord(index=w["index"], process=Process(**w["process"]))
                for w in raw["workers"]
            ],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load(data_dir: Path) -> WorkersRecord:
    """The record of the ``up`` running in ``data_dir``, or ControlError saying why not."""
    record = read(data_dir)
    if record is None:
        raise ControlError(
            f"no pipeline runs in {data_dir}/ (no {WORKERS_FILE}): the worker controls act only "
            "on the workers `chirpstream up` started; pass the --data-dir it runs in"
        )
    if not record.up.alive():
        raise ControlError(
            f"the pipeline recorded in {record_path(data_dir)} is no longer running (its "
            f"`chirpstream up`, pid {record.up.pid}, has exited)"
        )
    return record


def workers(data_dir: Path) -> list[WorkerRecord]:
    """The workers the running ``up`` recorded, still alive as recorded, by index."""
    return sorted((w for w in load(data_dir).workers if w.process.alive()), key=lambda w: w.index)


def requests_dir(data_dir: Path) -> Path:
    return data_dir / run_file.REQUESTS


def pending_adds(data_dir: Path) -> list[Path]:
    """The add requests not yet served, oldest first."""
    try:
        return sorted(requests_dir(data_dir).glob(f"{ADD_REQUEST}*"))
    except OSError:
        return []


def add_worker(data_dir: Path) -> None:
    """Ask the running ``up`` to start one more worker in its group (it does so within a
    fraction of a second)."""
    running = len(workers(data_dir)) + len(pending_adds(data_dir))
    if running >= MAX_WORKERS:
        raise ControlError(
            f"{running} workers already run or are being started; at most {MAX_WORKERS} "
            "(`chirpstream workers --remove` stops one)"
        )
    requests = requests_dir(data_dir)
    requests.mkdir(exist_ok=True)
    # The name alone is the request: created whole, so `up` never sees half of one.
    (requests / f"{ADD_REQUEST}{time.time_ns()}-{os.getpid()}").touch(exist_ok=False)


def signal_worker(data_dir: Path, index: int, sig: signal.Signals) -> None:
    """Send ``sig`` to worker ``index`` of the running ``up``: only a worker ``up`` recorded,
    only while its process is still the one recorded."""
    record = load(data_dir)
    worker = record.worker(index)
    if worker is None or not worker.process.alive():
        running = ", ".join(str(w.index) for w in workers(data_dir)) or "none"
        raise ControlError(f"worker {index} is not running; the running workers are {running}")
    send(worker.process, sig)


def remove_worker(data_dir: Path, index: int | None = None) -> int:
    """SIGTERM to worker ``index`` (default: the newest running): it publishes its results,
    commits and leaves the group. Returns the index of the worker stopped."""
    if index is None:
        running = workers(data_dir)
        if not running:
            raise ControlError("no worker is running: `chirpstream workers --add` starts one")
        index = running[-1].index
    worker = load(data_dir).worker(index)
    if worker is not None and worker.process.paused():
        signal_worker(data_dir, index, signal.SIGCONT)  # or it would not see SIGTERM
    signal_worker(data_dir, index, signal.SIGTERM)
    return index


def crash_before_commit(data_dir: Path, index: int | None = None) -> int:
    """SIGUSR1 to worker ``index`` (default: the oldest running, which surely owns partitions):
    it dies at its next commit point without committing (``consumers.crash``). Returns the
    index of the worker signalled."""
    if index is None:
        running = workers(data_dir)
        if not running:
            raise ControlError("no worker is running: `chirpstream workers --add` starts one")
        index = running[0].index
    worker = load(data_dir).worker(index)
    if worker is not None and worker.process.paused():
        signal_worker(data_dir, index, signal.SIGCONT)  # a paused worker never reaches a commit
    signal_worker(data_dir, index, signal.SIGUSR1)
    return index


class WorkerGroup:
    """The workers of one ``up`` (its side of the controls): starts them, records them,
    serves the add requests, notices those that exit and stops them all at once."""

    name = "analytics"  # as `up` names the stage in its stop lines

    def __init__(
        self, data_dir: Path, group: str, spawn: Callable[[int], Service], up: Process
    ) -> None:
        self.data_dir = data_dir
        self.group = group
        self.spawn = spawn  # starts worker N as up's child
        self.up = up
        self.running: dict[int, Service] = {}
        self.next_index = 0
        for stale in pending_adds(data_dir):  # left by an earlier run
            stale.unlink(missing_ok=True)

    def add(self) -> Service:
        index, self.next_index = self.next_index, self.next_index + 1
        service = self.spawn(index)
        self.running[index] = service
        self._record()
        return service

    def serve_requests(self) -> list[Service]:
        """Start one worker per add request waiting (up to ``MAX_WORKERS`` running)."""
        started = []
        for request in pending_adds(self.data_dir):
            request.unlink(missing_ok=True)
            if len(self.running) < MAX_WORKERS:
                started.append(self.add())
        return started

    def reap(self) -> list[tuple[int, Service, int]]:
        """The workers that have exited since last asked (index, service, exit code); the
        record no longer names them."""
        exited = [
            (index, service, code)
            for index, service in self.running.items()
            if (code := service.process.poll()) is not None
        ]
        for index, _, _ in exited:
            del self.running[index]
        if exited:
            self._record()
        return exited

    def stop(self) -> None:
        """SIGTERM to every worker at once (each publishes, commits and leaves), wait for
        them, and remove the record."""
        for service in self.running.values():
            service.terminate()
        for service in self.running.values():
            service.wait_stopped()
        self.running.clear()
        record_path(self.data_dir).unlink(missing_ok=True)

    def _record(self) -> None:
        write(
            self.data_dir,
            WorkersRecord(
                up=self.up,
                group=self.group,
                workers=[
                    WorkerRecord(index, Process(s.process.pid, [str(a) for a in s.process.args]))
                    for index, s in sorted(self.running.items())
                ],
            ),
        )


def worker_state(worker: WorkerRecord) -> str:
    return "paused" if worker.process.paused() else "running"


def worker_index(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a worker number (0, 1, 2, ...)")
    return int(text)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="chirpstream workers")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"where `chirpstream up` runs (default {DEFAULT_DATA_DIR}/)",
    )
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument(
        "--add", action="store_true", help="start one more worker in the analytics group"
    )
    actions.add_argument(
        "--remove",
        nargs="?",
        type=worker_index,
        const=-1,
        metavar="N",
        help="stop worker N (default: the newest) with SIGTERM: a clean leave of the group",
    )
    actions.add_argument(
        "--crash-before-commit",
        nargs="?",
        type=worker_index,
        const=-1,
        metavar="N",
        help="make worker N (default: the oldest) die at its next commit point, its results "
        "published and its offsets not committed: another member reads them again",
    )
    return parser


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    args = args or build_parser().parse_args(argv)
    try:
        if args.add:
            add_worker(args.data_dir)
            print("one more worker requested from chirpstream up", flush=True)
        elif args.remove is not None:
            index = remove_worker(args.data_dir, None if args.remove == -1 else args.remove)
            print(f"worker {index} stopping (SIGTERM: it commits and leaves the group)")
        elif args.crash_before_commit is not None:
            chosen = None if args.crash_before_commit == -1 else args.crash_before_commit
            index = crash_before_commit(args.data_dir, chosen)
            print(
                f"worker {index} dies at its next commit point, its offsets not committed "
                "(SIGUSR1): see the dashboard's Crash before commit page"
            )
        else:
            record = load(args.data_dir)
            print(f"{'WORKER':<7} {'PID':<8} {'STATE':<8} GROUP")
            for worker in workers(args.data_dir):
                print(f"{worker.index:<7} {worker.pid:<8} {worker_state(worker):<8} {record.group}")
    except ControlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
