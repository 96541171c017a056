"""``chirpstream up`` as a teacher runs it: the whole pipeline in a subprocess, tweets produced,
processed and folded, then Ctrl-C, after which no process it started is left (checked by pid).
The same pipeline against an external broker given by ``--bootstrap-servers``."""

from __future__ import annotations

import contextlib
import fcntl
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

import chirpstream.up as up_module
import ingest.main
from chirpstream.settings import TWEETS_PARTITIONS, TWEETS_TOPIC
from tests.support.broker_process import ROOT, BrokerProcess
from tests.support.commands import service
from tests.support.stats import fold_until

UP_LINE = re.compile(r"^chirpstream is up on (?P<where>.+?) at (?P<bootstrap>\S+?):? ")


class Up:
    """A ``chirpstream up`` subprocess whose output goes to a file the test reads."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out = tmp_path / "up.out"
        self.started = time.monotonic()
        with self.out.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chirpstream", "up", "--data-dir", str(tmp_path), *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.output(), re.MULTILINE)) is None:
            assert self.proc.poll() is None, (
                f"up exited with {self.proc.returncode}:\n{self.output()}"
            )
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.output()}"
            time.sleep(0.2)
        return found

    def wait_until_up(self) -> tuple[str, str]:
        found = self.wait_for(UP_LINE.pattern)
        return found["where"], found["bootstrap"]

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(90)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, found through the parent links in /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def high_watermarks(bootstrap: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-marks"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(TWEETS_TOPIC, p), timeout=10)[1]
            for p in range(TWEETS_PARTITIONS)
        )
    finally:
        consumer.close()


def librdkafka_threads(pid: int) -> list[str]:
    """The names of ``pid``'s threads that librdkafka started (it names them ``rdk:...``)."""
    names = []
    for comm in Path(f"/proc/{pid}/task").glob("*/comm"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            names.append(comm.read_text().strip())
    return sorted(name for name in names if name.startswith("rdk:"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_up_runs_everything_and_ctrl_c_leaves_nothing_behind(tmp_path):
    earlier = tmp_path / "logs" / "broker.log"
    earlier.parent.mkdir()
    earlier.write_text("a line from an earlier run\n")
    up = Up(tmp_path, "--no-dashboard", "--rate", "500", "--seed", "7", "--broker-port", "0",
            "--brokers", "1")  # fmt: skip
    try:
        where, bootstrap = up.wait_until_up()
        assert where == "the bundled broker"
        started = descendants(up.proc.pid)
        # broker, ingest, the analytics launcher and its 3 workers
        assert len(started) >= 6, started
        folder = fold_until(bootstrap, lambda f: f.totals.tweets >= 2000, 60)
        assert folder.totals.tweets >= 2000
        up.wait_for(r"^status: +\d+ tweets in/s +\d+ processed/s .*  lag [\d,]+  1 broker up  "
                    r"0 under-replicated partitions$")  # fmt: skip
        time.sleep(max(0.0, 20 - (time.monotonic() - up.started)))  # a ~20 s run
        # librdkafka 2.16.0 crashes its process now and then while a broker restarts: up reads
        # its status lines over the project's wire client, so none of librdkafka's threads
        # (rdk:main, rdk:broker<N>, ...) runs in up, whose death would stop the pipeline.
        assert librdkafka_threads(up.proc.pid) == [], "up must not run librdkafka"
        assert up.stop(signal.SIGINT) == 0
    finally:
        up.kill()
    assert wait_gone(started) == set(), "processes left running after Ctrl-C"
    output = up.output()
    assert "Traceback" not in output
    stops = re.findall(r"^  stopping (\w+)$", output, re.MULTILINE)
    assert stops == ["analytics", "ingest", "broker"]  # newest first
    broker_log = earlier.read_text()
    assert broker_log.startswith("a line from an earlier run\n"), "logs are appended"
    assert "READY broker" in broker_log

    # The broker's log is on disk. A worker started on it later finishes the runs the stopped
    # ones left open: the folded totals then count every tweet ingest produced exactly once.
    broker = BrokerProcess(tmp_path / "broker", tmp_path / "again.log").start()
    worker = subprocess.Popen(
        service("consumers", broker.bootstrap, "--workers", "1"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        produced = high_watermarks(broker.bootstrap)
        folder = fold_until(broker.bootstrap, lambda f: f.totals.tweets >= produced, 60)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        broker.stop()
    assert produced >= 2000
    assert (folder.totals.tweets, folder.overlaps, folder.invalid) == (produced, 0, 0)


def test_up_killed_by_sigkill_leaves_nothing_behind(tmp_path):
    """No Ctrl-C, no chance to stop anything: each service gets SIGTERM from the kernel when
    ``up`` dies, and stops what it started in turn."""
    up = Up(tmp_path, "--rate", "200", "--broker-port", "0", "--brokers", "1",
            "--dashboard-port", str(free_port()))  # fmt: skip
    try:
        up.wait_until_up()
        started = descendants(up.proc.pid)
        assert len(started) >= 7, started  # broker, ingest, analytics + 3, dashboard + streamlit
    finally:
        up.kill()
    assert wait_gone(started, 60) == set(), "processes left running after up was killed"


def test_up_on_an_external_cluster_with_the_dashboard(broker_factory, tmp_path):
    cluster = broker_factory(name="cluster")
    port = free_port()
    up = Up(tmp_path, "--bootstrap-servers", cluster.bootstrap, "--rate", "200",
            "--workers", "2", "--dashboard-port", str(port), "--key", "hashtag")  # fmt: skip
    try:
        where, bootstrap = up.wait_until_up()
        assert (where, bootstrap) == ("your cluster", cluster.bootstrap)
        output = up.output()
        assert "  broker " not in output and f"http://127.0.0.1:{port}" in output
        assert re.search(r"^  ingest .* key=hashtag$", output, re.MULTILINE), output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as r:
            assert r.status == 200
        fold_until(cluster.bootstrap, lambda f: f.totals.tweets > 0, 60)
        started = descendants(up.proc.pid)

        # A service that dies is reported once, with where its log is; the rest keep going.
        ingest_pid = int(re.search(r"^  ingest +pid (\d+)", output, re.MULTILINE)[1])
        subprocess.run(["kill", "-KILL", str(ingest_pid)], check=True)
        log = tmp_path / "logs" / "ingest.log"
        up.wait_for(rf"^chirpstream: ingest exited with -9; its log is {re.escape(str(log))}$")
        assert up.stop(signal.SIGTERM) == 0
    finally:
        up.kill()
    assert wait_gone(started) == set()
    assert up.output().count("ingest exited") == 1
    assert cluster.running, "up must leave a cluster it did not start alone"
    assert high_watermarks(cluster.bootstrap) > 0


@pytest.mark.parametrize(
    ("flag", "others", "hint"),
    [
        ("--broker-port", ["--no-dashboard"], " (0 picks a free one)"),
        ("--dashboard-port", ["--bootstrap-servers", "127.0.0.1:1"], ""),
    ],
)
def test_a_port_in_use_is_refused_naming_ups_own_flag_before_anything_starts(
    tmp_path, flag, others, hint
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = Up(tmp_path, *others, flag, str(port))
        code = up.proc.wait(60)
    output = up.output()
    assert code == 1 and "Traceback" not in output
    assert output.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use: stop what holds it (an earlier "
        f"`chirpstream up`?), or pass {flag} PORT{hint}"
    ]
    assert not (tmp_path / "logs").exists(), "nothing was started"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--rate", "fast"], "argument --rate: 'fast' is not a number, or max"),
        (["--source", "replay", "--speed", "0"], "argument --speed: must be positive, or max"),
        (["--key", "bogus"], "argument --key: invalid choice: 'bogus'"),
        (["--source", "replay", "--file", "missing.jsonl"], "replay file missing.jsonl"),
        (["--broker-config", "log.retention.ms=soon"], "--broker-config: log.retention.ms"),
    ],
)
def test_a_bad_flag_is_refused_before_anything_starts(tmp_path, flags, named):
    up = Up(tmp_path, "--no-dashboard", "--broker-port", "0", *flags)
    code = up.proc.wait(60)
    output = up.output()
    assert code == 1 and "Traceback" not in output
    assert len(output.splitlines()) == 1 and output.startswith("error: "), output
    assert named in output
    assert not (tmp_path / "logs").exists(), "a service was started before the flag was checked"


def test_a_second_up_on_a_data_dir_in_use_is_refused_and_touches_nothing(tmp_path):
    log = tmp_path / "logs" / "broker.log"
    log.parent.mkdir()
    log.write_text("READY broker node=0 listening=127.0.0.1:9092 data_dir=data/broker\n")
    with (tmp_path / "up.lock").open("a+") as lock:  # held as a running `up` holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242\n")
        lock.flush()
        up = Up(tmp_path, "--no-dashboard", "--broker-port", "0")
        try:
            code = up.proc.wait(30)
        finally:
            up.kill()
    assert code == 1
    assert up.output() == (
        f"error: {tmp_path}/ is in use by another `chirpstream up` (pid 4242): stop it first, "
        "or pass --data-dir DIR for a second pipeline\n"
    )
    assert log.read_text() == "READY broker node=0 listening=127.0.0.1:9092 data_dir=data/broker\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "up.lock", "up.out"]


def test_up_passes_the_lesson_flags_on_to_ingest():
    args = up_module.build_parser().parse_args(
        ["--source", "replay", "--speed", "10", "--loop", "--key", "none", "--limit", "500"]
    )
    given = ingest.main.build_parser().parse_args(up_module.Pipeline(args).source_arguments())
    assert (given.source, given.speed, given.loop, given.key, given.limit) == (
        "replay", 10.0, True, "none", 500,
    )  # fmt: skip


def test_up_checks_retention_every_second_unless_told_otherwise(tmp_path):
    """Kafka's 5-minute retention check would hide the walkthrough's retention step."""
    parse = up_module.build_parser().parse_args
    default = up_module.broker_arguments(parse(["--data-dir", str(tmp_path)]))
    assert "log.retention.check.interval.ms=1000" in default
    given = ["--broker-config", "log.retention.check.interval.ms=300000"]
    chosen = up_module.broker_arguments(parse(["--data-dir", str(tmp_path), *given]))
    assert [a for a in chosen if a.startswith("log.retention")] == given[1:]
