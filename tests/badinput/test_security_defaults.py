"""Safe by default: the broker binds loopback unless told otherwise, and says so, once, when it
is told otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.broker_process import READY, ROOT


@pytest.fixture
def run_broker(tmp_path):
    """Start ``python -m broker`` with exactly ``args``; yields (process, port, log path)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> tuple[subprocess.Popen[bytes], int, Path]:
        log = tmp_path / f"broker{len(started)}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "broker", "--data-dir", str(tmp_path / "d"), *args],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        started.append(proc)
        assert proc.stdout is not None
        for line in proc.stdout:
            match = READY.match(line.decode())
            if match:
                return proc, int(match["port"]), log
        raise AssertionError(f"no READY line:\n{log.read_text()}")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


def listening_addresses(pid: int, port: int) -> set[str]:
    """Local addresses (hex, as /proc shows them) of the process's listening sockets."""
    found = set()
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            local, _, state = row.split()[1:4]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_default_is_loopback_and_silent(run_broker):
    proc, port, log = run_broker("--port", "0")
    assert listening_addresses(proc.pid, port) == {"0100007F"}  # 127.0.0.1
    assert "not loopback" not in log.read_text()


def test_binding_elsewhere_warns_once(run_broker):
    proc, port, log = run_broker("--host", "0.0.0.0", "--port", "0")
    assert listening_addresses(proc.pid, port) == {"00000000"}
    warnings = [line for line in log.read_text().splitlines() if "not loopback" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0]
