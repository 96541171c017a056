"""What the verbs that run services in the foreground (``up``, ``cluster``) share: one run per
data directory, a port check before anything starts, a child that dies with its parent, and a
child service with its log, its ``READY`` line and a clean stop.

Kept free of client libraries so that importing it costs nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STOP_TIMEOUT_S = 30.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class SettingError(Exception):
    """A flag the verb cannot start with; the message is one line saying what to do."""


def lock_data_dir(data_dir: Path, verb: str, what: str) -> None:
    """Hold ``<data-dir>/<verb>.lock`` for as long as this process lives (its descriptor stays
    open, and no child inherits it). ``what`` names what a second run would be ("a second
    pipeline").

    Raises SettingError when another ``chirpstream <verb>`` holds it, before anything else is
    touched.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / f"{verb}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SettingError(f"cannot use --data-dir {data_dir}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SettingError(
            f"{data_dir}/ is in use by another `chirpstream {verb}` (pid {holder}): stop it "
            f"first, or pass --data-dir DIR for {what}"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())


def check_port_free(number: int, flag: str, verb: str, hint: str = "") -> None:
    """Raise SettingError when 127.0.0.1:``number`` cannot be bound, naming ``flag``."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind(("127.0.0.1", number))
        except OSError:
            raise SettingError(
                f"port {number} on 127.0.0.1 is already in use: stop what holds it (an earlier "
                f"`chirpstream {verb}`?), or pass {flag} PORT{hint}"
            ) from None


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl


_PRCTL = _prctl()  # looked up here: the child between fork and exec only calls it


def dies_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` by which the child gets ``sig`` when this process dies, however it
    dies (even by SIGKILL), so nothing it started is left running as an orphan (Linux's
    PR_SET_PDEATHSIG; None elsewhere). Call it from the thread that stays alive: the kernel
    counts the parent as gone when the thread that forked exits."""
    if _PRCTL is None:
        return None
    parent = os.getpid()
    prctl = _PRCTL

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before the line above: act on it now
            os.kill(os.getpid(), sig)

    return arm


@dataclass
class Service:
    """A child process in its own session whose output is appended to ``log``."""

    name: str
    process: subprocess.Popen
    log: Path
    log_start: int  # where this run's lines begin: the log is appended to
    ready: re.Pattern[str]  # its READY line
    stop_timeout_s: float = STOP_TIMEOUT_S  # how long a stop waits before SIGKILL

    def lines(self) -> list[str]:
        with self.log.open("rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace").splitlines()

    def ready_line(self) -> str | None:
        """The READY line without its ``READY `` prefix, once printed."""
        for line in self.lines():
            if self.ready.match(line):
                return line.removeprefix("READY ")
        return None

    def last_error(self) -> str:
        errors = [line for line in self.lines() if line.startswith("error:")]
        return f" ({errors[-1]})" if errors else ""

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
            # A paused (SIGSTOPped) process would not see SIGTERM until it is continued.
            self.process.send_signal(signal.SIGCONT)

    def wait_stopped(self) -> None:
        """Wait for the process, then SIGKILL whatever of its session is still there."""
        try:
            self.process.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            print(f"chirpstream: {self.name} did not stop in time; killing it", flush=True)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM and wait, then SIGKILL whatever of its session is still there."""
        self.terminate()
        self.wait_stopped()
