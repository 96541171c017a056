"""Stand-ins for ``up``'s analytics workers, started by a real ``WorkerGroup``: child processes
that take the crash-before-commit signal as a worker does (exit ``consumers.crash.EXIT_CODE``)
and otherwise sleep."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from chirpstream import workers
from chirpstream.run_file import own_process
from chirpstream.services import Service
from consumers.crash import EXIT_CODE

STAND_IN = (
    "import os, signal, time\n"
    f"signal.signal(signal.SIGUSR1, lambda *_: os._exit({EXIT_CODE}))\n"
    "print('READY', flush=True)\n"
    "time.sleep(60)\n"
)


def fault_taking_group(data_dir: Path) -> workers.WorkerGroup:
    """A ``WorkerGroup`` recording in ``data_dir`` whose workers are stand-ins; stop it."""

    def spawn(index: int) -> Service:
        process = subprocess.Popen(
            [sys.executable, "-c", STAND_IN, str(index)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None and process.stdout.readline() == "READY\n"
        return Service(f"worker {index}", process, data_dir / "w.log", 0, None, 5.0)  # type: ignore[arg-type]

    return workers.WorkerGroup(data_dir, "analytics", spawn, own_process())


def exit_codes(group: workers.WorkerGroup, timeout: float = 10) -> dict[int, int | None]:
    """Each worker's exit code (None: running) once one has exited, or at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(
        s.process.poll() is None for s in group.running.values()
    ):
        time.sleep(0.05)
    return {index: s.process.poll() for index, s in group.running.items()}
