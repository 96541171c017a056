"""``python -m chirpstream.guardian``: stops what ``chirpstream up`` started should ``up`` die
without stopping it (even by SIGKILL), in the order ``up`` itself would.

``up`` starts it first, in its own session, and writes one JSON line per service it starts to
the guardian's stdin: ``{"name", "pid", "argv", "stop_timeout_s"}``; at a clean stop it writes
``done``. The guardian waits for the end of its stdin, which comes when ``up`` exits however it
exits (the kernel closes the pipe). Without ``done`` before it, it stops each service newest
first, as Ctrl-C would have: SIGTERM, then SIGKILL to the service's session after its stop
timeout. Each is signalled only while ``/proc/<pid>/cmdline`` still reads as recorded, so a pid
reused since is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time

from chirpstream.run_file import Process

DONE = "done"
POLL_S = 0.1


def stop(process: Process, name: str, timeout_s: float) -> None:
    if not process.alive():
        return
    print(f"chirpstream up has gone: stopping {name} (pid {process.pid})", flush=True)
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
        os.kill(process.pid, signal.SIGCONT)  # a paused service would not see SIGTERM
    deadline = time.monotonic() + timeout_s
    while process.alive() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if process.alive():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # each service leads its own session


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the end of stdin counts
    services: list[tuple[Process, str, float]] = []
    for line in sys.stdin:
        if line.strip() == DONE:
            return 0
        entry = json.loads(line)
        services.append(
            (Process(entry["pid"], entry["argv"]), entry["name"], entry["stop_timeout_s"])
        )
    for process, name, timeout_s in reversed(services):
        stop(process, name, timeout_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
