"""A bundled broker as a real subprocess, the way the tests meet it.

Starts ``python -m broker`` (``broker_command``: without hypothesis, as where chirpstream is
installed) on 127.0.0.1 with a free port and its own data directory, waits for the ``READY``
line, and can terminate, kill, pause, resume and restart it on the same data directory. It
only ever signals the pid it started. Its output goes to a log file that ``dump_log()``
prints when a test fails.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

READY = re.compile(r"^READY broker node=\d+ listening=(?P<host>[^:\s]+):(?P<port>\d+)")
ROOT = Path(__file__).resolve().parents[2]
# ``python -m broker`` as it runs where chirpstream is installed without its dev extras: kio
# registers hypothesis strategies for its types whenever it can import hypothesis, which in
# the test venv costs every broker 0.23 s of CPU (0.90 -> 0.67 s for a start and a stop) and
# 0.3 s to READY.
RUN_BROKER = (
    "import runpy, sys; sys.modules['hypothesis'] = None; "
    "runpy.run_module('broker', run_name='__main__', alter_sys=True)"
)

# Light for 2 cores, as tests/support/cluster.py: one __consumer_offsets partition instead of
# Kafka's 50, which cost every broker 0.37 s to start and stop (0.64 -> 0.49 s of CPU).
# ``broker_factory`` starts brokers with it; a test that needs Kafka's default passes
# KAFKA_OFFSETS_PARTITIONS (the group tests with real clients and restarts do).
LIGHT = {"offsets.topic.num.partitions": "1"}
KAFKA_OFFSETS_PARTITIONS = {"offsets.topic.num.partitions": "50"}


def broker_command(*args: str) -> list[str]:
    """The command line of ``python -m broker <args>`` without hypothesis (see RUN_BROKER)."""
    return [sys.executable, "-c", RUN_BROKER, *args]


class BrokerProcess:
    READY = READY  # what the process prints once it serves; a "port" group is the port

    def __init__(
        self, data_dir: Path, log_path: Path, *, config: dict[str, str] | None = None, port: int = 0
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.config = dict(config or {})
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self._pending = b""  # stdout read while waiting for READY

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = ["--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        for key, value in self.config.items():
            args += ["--config", f"{key}={value}"]
        return broker_command(*args)

    def start(self, timeout: float = 30.0) -> BrokerProcess:
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to be ready."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
        log.close()
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._pending = b""

    def wait_ready(self, timeout: float = 30.0) -> BrokerProcess:
        """Wait for the READY line of the process ``launch`` started."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = self.proc.stdout.read()
            if chunk:
                self._pending += chunk
                for line in self._pending.decode(errors="replace").splitlines():
                    match = self.READY.match(line)
                    if match:
                        if match.groupdict().get("port"):
                            self.port = int(match["port"])
                        return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.read_log()}")
            time.sleep(0.02)
        self.kill()
        raise TimeoutError(f"broker printed no READY line within {timeout} s:\n{self.read_log()}")

    def _signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def term(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: a clean shutdown. Returns the exit code."""
        self._signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: an unclean stop, as a crash or power cut of the process would be."""
        self._signal(signal.SIGKILL)
        self.wait(30.0)

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def restart(self, *, clean: bool = True) -> BrokerProcess:
        """Stop (SIGTERM when clean, SIGKILL otherwise) and start on the same dir and port."""
        if clean:
            self.term()
        else:
            self.kill()
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        stop_together([self])


def stop_together(processes: list[BrokerProcess]) -> None:
    """Stop the ones still running at once: SIGTERM to each, then wait for each (SIGKILL if it
    does not stop within 10 s)."""
    running = [process for process in processes if process.running]
    for process in running:
        process.resume()
        process._signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(10.0)
        except subprocess.TimeoutExpired:
            process.kill()
