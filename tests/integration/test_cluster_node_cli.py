"""A cluster node from the command line: a bad cluster setting is one line, a node busy
waiting for its quorum stops on SIGTERM, and a controller's port in use is said in one line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

from tests.support.broker_process import ROOT
from tests.support.cluster import free_ports


def _broker(tmp_path, *config: str) -> list[str]:
    args = [sys.executable, "-m", "broker", "--data-dir", str(tmp_path / "data")]
    for item in config:
        args += ["--config", item]
    return args


def test_a_broker_waiting_for_its_quorum_stops_on_sigterm(tmp_path):
    nowhere, client = free_ports(2)  # no controller listens there
    node = subprocess.Popen(
        _broker(
            tmp_path,
            "node.id=1",
            "process.roles=broker",
            f"controller.quorum.voters=0@127.0.0.1:{nowhere}",
            f"listeners=PLAINTEXT://127.0.0.1:{client}",
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)  # it is up and waiting for the metadata log
        assert node.poll() is None
        node.send_signal(signal.SIGTERM)
        out, err = node.communicate(timeout=15)
    finally:
        if node.poll() is None:
            node.kill()
    assert node.returncode == 0, err
    assert "READY" not in out and "Traceback" not in err
    assert "stopping before the node was ready" in err


def test_a_controller_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (client,) = free_ports(1)
        done = subprocess.run(
            _broker(
                tmp_path,
                f"controller.quorum.voters=0@127.0.0.1:{port}",
                f"listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{port}",
            ),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: a port of listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:"
        f"{port} is already in use; stop the other process or change listeners"
    ]
