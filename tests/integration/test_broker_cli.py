"""Starting the broker wrong gives one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.broker_process import ROOT
from tests.support.wire import WireClient

API_VERSIONS_BODY = {"client_software_name": "t", "client_software_version": "1"}


def _run_broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_error_line(_run_broker("--port", str(port), "--data-dir", str(tmp_path)))
    assert "already in use" in line and str(port) in line


def test_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    line = _one_error_line(_run_broker("--port", "0", "--data-dir", str(blocker / "logs")))
    assert str(blocker) in line


def test_unknown_setting(tmp_path):
    line = _one_error_line(
        _run_broker("--config", "no.such.setting=1", "--data-dir", str(tmp_path))
    )
    assert "no.such.setting" in line


def test_bad_value(tmp_path):
    line = _one_error_line(
        _run_broker("--config", "num.partitions=many", "--data-dir", str(tmp_path))
    )
    assert "num.partitions" in line


def test_sigterm_stops_cleanly_and_the_next_start_scans_nothing(broker):
    assert broker.term() == 0
    assert "stopped cleanly" in broker.read_log()
    assert (broker.data_dir / ".kafka_cleanshutdown").exists()
    broker.start()
    assert "previous shutdown clean" in broker.read_log()


def test_console_script_starts_the_broker(tmp_path):
    script = Path(sys.executable).parent / "chirpstream"
    proc = subprocess.Popen(
        [script, "broker", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY broker node=0 listening=127.0.0.1:")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_node_id_names_the_broker_everywhere(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker", "--port", "0", "--data-dir", str(tmp_path), "--node-id",
         "5"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY broker node=5 listening=127.0.0.1:"), line
        bootstrap = line.split("listening=")[1].split()[0]
        cluster = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
        assert list(cluster.brokers) == [5] and cluster.controller_id == 5
        topic = AdminClient({"bootstrap.servers": bootstrap}).list_topics("t", timeout=10)
        assert {p.leader for p in topic.topics["t"].partitions.values()} == {5}
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def _chirpstream_broker(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "chirpstream"
    return subprocess.run(
        [script, "broker", *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("args", "names", "allowed"),
    [
        (["--config", "log.retention.check.interval.ms=0"], "log.retention.check.interval.ms",
         "from 1 to 9223372036854775807"),
        (["--config", "max.connections=-5"], "max.connections", "from 0 to 2147483647"),
        (["--config", "socket.request.max.bytes=0"], "socket.request.max.bytes",
         "from 1 to 2147483647"),
        (["--config", "offsets.topic.num.partitions=0"], "offsets.topic.num.partitions",
         "from 1 to 2147483647"),
        (["--port", "99999"], "--port", "from 0 to 65535"),
        (["--config", "listeners=PLAINTEXT://127.0.0.1:99999"], "listeners", "from 0 to 65535"),
        (["--config", "queued.max.request.bytes=1000"], "queued.max.request.bytes",
         "socket.request.max.bytes=104857600"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line_with_its_range_and_exit_code_2(tmp_path, args, names, allowed):
    done = _chirpstream_broker(*args, "--data-dir", str(tmp_path / "data"))
    line = _one_error_line(done)
    assert done.returncode == 2
    assert line.startswith(f"error: {names} ") and "must be" in line and allowed in line, line
    assert not (tmp_path / "data").exists()  # refused before touching anything


@pytest.mark.parametrize(
    "setting",
    [
        "connections.max.idle.ms=-1",  # Kafka: never close an idle connection
        "log.flush.offset.checkpoint.interval.ms=0",  # Kafka: no periodic checkpoint
        "log.flush.scheduler.interval.ms=0",  # Kafka: no periodic flush check
    ],
)
def test_kafkas_never_values_neither_spin_nor_drop_clients(broker_factory, setting):
    broker = broker_factory(config=dict([setting.split("=")]))
    clients = [WireClient(broker.port) for _ in range(5)]
    cpu_before, wall_before = _cpu_seconds(broker.proc.pid), time.monotonic()
    time.sleep(2)  # idle
    cpu = _cpu_seconds(broker.proc.pid) - cpu_before
    wall = time.monotonic() - wall_before
    for client in clients:
        assert client.request(18, 3, API_VERSIONS_BODY).error_code == 0
        client.close()
    assert cpu < wall / 20, f"an idle broker used {cpu:.2f} s of CPU in {wall:.1f} s"
    assert "idle for over" not in broker.read_log()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
