"""``chirpstream cluster``: the layout it writes, and the flags it refuses before anything
starts (one line, nothing written, nothing left running)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from broker.config import BrokerConfig
from chirpstream.cluster import build_parser, check_flags, node_properties, plan
from chirpstream.up import free_base_port
from tests.support.broker_process import ROOT
from tests.support.waiting import eventually


def run_cluster(*args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chirpstream", "cluster", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def processes_naming(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_three_brokers_one_controller_are_laid_out_as_kafka_names_them():
    nodes = plan(3, 1, 9092, Path("data/cluster"))
    assert [(n.node_id, n.client_port, n.controller_port) for n in nodes] == [
        (0, 9092, 9192),
        (1, 9093, None),
        (2, 9094, None),
    ]
    assert [n.folder for n in nodes] == [Path(f"data/cluster/node-{k}") for k in range(3)]
    first, second = (node_properties(n, nodes, {"min.insync.replicas": "2"}) for n in nodes[:2])
    assert first == {
        "process.roles": "broker,controller",
        "node.id": "0",
        "controller.quorum.voters": "0@127.0.0.1:9192",
        "cluster.id": first["cluster.id"],
        "listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9192",
        "advertised.listeners": "PLAINTEXT://127.0.0.1:9092",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(Path("data/cluster/node-0/data").resolve()),
        "offsets.topic.replication.factor": "3",
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
    }
    assert second["process.roles"] == "broker"
    assert second["listeners"] == "PLAINTEXT://127.0.0.1:9093"  # a broker only dials out
    assert second["controller.quorum.voters"] == "0@127.0.0.1:9192"
    assert second["cluster.id"] == first["cluster.id"]  # one cluster, as after kafka-storage
    assert BrokerConfig.from_properties(first).cluster_id == first["cluster.id"]  # a valid id
    other = plan(3, 1, 9300, Path("data/cluster"))
    assert node_properties(other[0], other, {})["cluster.id"] != first["cluster.id"]


def test_three_controllers_make_nodes_0_to_2_voters():
    nodes = plan(4, 3, 9092, Path("d"))
    voters = "0@127.0.0.1:9192,1@127.0.0.1:9193,2@127.0.0.1:9194"
    props = [node_properties(n, nodes, {}) for n in nodes]
    assert {p["controller.quorum.voters"] for p in props} == {voters}
    assert [p["process.roles"] for p in props] == ["broker,controller"] * 3 + ["broker"]
    assert props[2]["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9194"
    assert props[3]["listeners"] == "PLAINTEXT://127.0.0.1:9095"


def test_a_two_node_cluster_replicates_twice():
    nodes = plan(2, 1, 9092, Path("d"))
    assert node_properties(nodes[0], nodes, {})["default.replication.factor"] == "2"
    assert node_properties(nodes[0], nodes, {})["offsets.topic.replication.factor"] == "2"


def test_a_bigger_cluster_keeps_three_replicas_as_kafka_does():
    nodes = plan(5, 3, 9092, Path("d"))
    props = node_properties(nodes[4], nodes, {})
    assert (props["offsets.topic.replication.factor"], props["default.replication.factor"]) == (
        "3",
        "3",
    )


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--brokers", "0"], "argument --brokers: must be a positive whole number"),
        (["--controllers", "2"], "argument --controllers: invalid choice: 2"),
        (["--brokers", "2", "--controllers", "3"], "--controllers 3 needs at least 3 brokers"),
        (["--brokers", "101"], "--brokers 101: at most 100"),
        (["--base-port", "65500"], "--base-port 65500: the cluster's ports would pass 65535"),
        (["--broker-config", "node.id=7"], "--broker-config node.id: chirpstream cluster sets"),
        (["--broker-config", "no.such.setting=1"], "--broker-config: "),
        (["--broker-config", "log.retention.ms=soon"], "--broker-config: log.retention.ms"),
        (["--broker-config", "novalue"], "--broker-config: "),
    ],
)
def test_a_bad_flag_is_one_line_and_starts_nothing(tmp_path, flags, named):
    done = run_cluster("--data-dir", str(tmp_path / "c"), *flags)
    assert done.returncode != 0
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr
    assert named in done.stderr
    assert not list(tmp_path.glob("c/node-*")), "nothing is written before the flags are checked"


def test_a_port_in_use_is_refused_naming_the_base_port(tmp_path):
    base = free_base_port(3, 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 101))  # not a controller port with --controllers 1
        with socket.socket() as held:
            held.bind(("127.0.0.1", base + 2))
            held.listen()
            done = run_cluster(
                "--controllers", "1", "--base-port", str(base), "--data-dir", str(tmp_path)
            )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: port {base + 2} on 127.0.0.1 is already in use: stop what holds it (an earlier "
        "`chirpstream cluster`?), or pass --base-port PORT"
    ]
    assert not list(tmp_path.glob("node-*"))


def test_a_data_dir_in_use_is_refused(tmp_path):
    with (tmp_path / "cluster.lock").open("a+") as lock:  # held as a running cluster holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("4242\n")
        lock.flush()
        done = run_cluster("--base-port", str(free_base_port(3, 1)), "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr == (
        f"error: {tmp_path}/ is in use by another `chirpstream cluster` (pid 4242): stop it "
        "first, or pass --data-dir DIR for a second cluster\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.lock"]


def test_a_data_dir_made_with_other_controllers_is_refused(tmp_path):
    node = tmp_path / "node-0"
    node.mkdir()
    (node / "server.properties").write_text("controller.quorum.voters=0@127.0.0.1:9192\n")
    base = free_base_port(3, 3)
    done = run_cluster("--controllers", "3", "--base-port", str(base), "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1
    assert "whose controllers were 0@127.0.0.1:9192" in done.stderr
    assert "pass the --controllers and --base-port it was started with" in done.stderr
    assert (node / "server.properties").read_text() == (
        "controller.quorum.voters=0@127.0.0.1:9192\n"
    )


def test_a_node_that_cannot_start_is_reported_and_nothing_is_left_running(tmp_path):
    (tmp_path / "node-1").mkdir()
    (tmp_path / "node-1" / "data").write_text("a file where node 1's log directory goes")
    done = run_cluster("--base-port", str(free_base_port(3, 1)), "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert re.fullmatch(
        r"error: node \d exited with \d+ before it was ready \(error: .+\); "
        rf"its log is {re.escape(str(tmp_path))}/node-\d/node\.log\n",
        done.stderr,
    ), done.stderr
    assert done.stdout.splitlines()[-1] == "chirpstream cluster stopped"
    assert processes_naming(str(tmp_path)) == []
    for k in range(3):  # each node's file is there for the student to read
        props = (tmp_path / f"node-{k}" / "server.properties").read_text()
        assert f"node.id={k}\n" in props


class RunningCluster:
    """A ``chirpstream cluster`` subprocess whose output goes to a file the test reads."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out = tmp_path / "cluster.out"
        with self.out.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chirpstream", "cluster", *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            assert self.proc.poll() is None, f"exited with {self.proc.returncode}:\n{self.output()}"
            return re.search(pattern, self.output(), re.MULTILINE)

        return eventually(found, f"{pattern!r} in the output of chirpstream cluster", timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.cluster
@pytest.mark.parametrize("controllers", [1, 3])
def test_a_cluster_serves_a_replicated_topic_reports_a_dead_node_and_stops_on_sigterm(
    tmp_path, controllers
):
    base = free_base_port(3, controllers)
    run = RunningCluster(tmp_path, "--brokers", "3", "--controllers", str(controllers),
                         "--base-port", str(base), "--data-dir", str(tmp_path / "c"))  # fmt: skip
    try:
        bootstrap = ",".join(f"127.0.0.1:{base + k}" for k in range(3))
        run.wait_for(rf"^READY bootstrap={re.escape(bootstrap)}$")
        lines = {int(m[1]): m for m in re.finditer(NODE_LINE, run.output(), re.MULTILINE)}
        assert sorted(lines) == [0, 1, 2]
        voters = range(controllers)
        assert [lines[k]["roles"] for k in range(3)] == [
            "broker,controller" if k in voters else "broker" for k in range(3)
        ]
        assert [lines[k]["controller"] for k in range(3)] == [
            f"127.0.0.1:{base + 100 + k}" if k in voters else "-" for k in range(3)
        ]
        assert [lines[k]["clients"] for k in range(3)] == bootstrap.split(",")

        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("replicated", 2, 3)])["replicated"].result(30)
        for k in range(3):  # every broker knows the topic and its three replicas
            one = AdminClient({"bootstrap.servers": f"127.0.0.1:{base + k}"})
            eventually(lambda one=one: [sorted(p.replicas) for p in one.list_topics(
                "replicated", timeout=10).topics["replicated"].partitions.values()]
                == [[0, 1, 2]] * 2, f"the topic's replicas seen by broker {k}")  # fmt: skip

        os.kill(int(lines[2]["pid"]), signal.SIGKILL)
        run.wait_for(r"^chirpstream cluster: node 2 was killed by SIGKILL; its log is .+$")
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(60) == 0
    finally:
        run.kill()
    output = run.output().splitlines()
    assert output[-3:] == ["  stopping node 1", "  stopping node 0", "chirpstream cluster stopped"]
    assert processes_naming(str(tmp_path)) == []


NODE_LINE = (
    r"^  node (\d)  roles=(?P<roles>\S+) +clients=(?P<clients>\S+)  controller=(?P<controller>\S+)"
    r" +data=\S+  pid=(?P<pid>\d+)$"
)


def test_three_nodes_make_a_quorum_of_three_by_default_and_fewer_a_single_controller():
    three = check_flags(build_parser().parse_args(["--brokers", "3"]))[0]
    two = check_flags(build_parser().parse_args(["--brokers", "2"]))[0]
    assert [node.controller_port is not None for node in three] == [True, True, True]
    assert [node.controller_port is not None for node in two] == [True, False]


def brokers_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chirpstream", "brokers", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def states(data_dir: Path) -> dict[str, tuple[str, str]]:
    """``chirpstream brokers --data-dir``'s table: id -> (state, pid)."""
    done = brokers_cli("--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    header, *rows = (line.split() for line in done.stdout.splitlines())
    assert header == ["ID", "ADDRESS", "STATE", "PID", "CONTROLLER", "LEADERS"]
    return {row[0]: (row[2], row[3]) for row in rows}


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


@pytest.mark.cluster
def test_the_run_file_names_every_node_and_the_broker_controls_act_on_them(tmp_path):
    base = free_base_port(3, 3)
    data = tmp_path / "c"
    run = RunningCluster(tmp_path, "--base-port", str(base), "--data-dir", str(data))
    run_json = data / "run.json"
    try:
        run.wait_for(r"^READY bootstrap=")
        pids = {int(m[1]): int(m["pid"]) for m in re.finditer(NODE_LINE, run.output(), re.M)}
        record = json.loads(run_json.read_text())
        assert record["supervisor"]["pid"] == run.proc.pid
        assert record["bootstrap"] == ",".join(f"127.0.0.1:{base + k}" for k in range(3))
        for node in record["nodes"]:
            k = node["node_id"]
            assert node["process"]["pid"] == pids[k]
            assert node["process"]["argv"] == node["argv"]
            assert Path(f"/proc/{pids[k]}/cmdline").read_bytes().split(b"\0")[:-1] == [
                arg.encode() for arg in node["argv"]
            ]
            assert (node["roles"], node["client_address"], node["controller_address"]) == (
                "broker,controller",
                f"127.0.0.1:{base + k}",
                f"127.0.0.1:{base + 100 + k}",
            )
            assert node["log"] == str((data / f"node-{k}" / "node.log").resolve())
            assert node["ready"] is True
        assert states(data) == {str(k): ("running", str(pids[k])) for k in range(3)}

        paused = brokers_cli("--data-dir", str(data), "--pause", "1")
        assert paused.stdout == (
            f"broker 1 paused (SIGSTOP to pid {pids[1]}): it answers nothing until resumed\n"
        )
        assert states(data)["1"] == ("paused", str(pids[1]))
        again = brokers_cli("--data-dir", str(data), "--pause", "1")
        assert (again.returncode, again.stderr) == (
            1,
            "error: broker 1 is already paused: `--resume 1` resumes it\n",
        )
        assert brokers_cli("--data-dir", str(data), "--resume", "1").returncode == 0
        assert states(data)["1"] == ("running", str(pids[1]))

        killed = brokers_cli("--data-dir", str(data), "--kill", "2")
        assert killed.stdout == f"broker 2 killed (SIGKILL to pid {pids[2]})\n"
        run.wait_for(r"^chirpstream cluster: node 2 was killed by SIGKILL; its log is .+$")
        eventually(
            lambda: json.loads(run_json.read_text())["nodes"][2]["exit_code"] == -9,
            "the run file records node 2's death",
        )
        assert json.loads(run_json.read_text())["nodes"][2]["process"] is None
        assert states(data)["2"] == ("stopped", "-")

        restarted = brokers_cli("--data-dir", str(data), "--restart", "2")
        assert restarted.returncode == 0, restarted.stderr
        new_pid = int(re.fullmatch(r"broker 2 restarted: pid (\d+), ready\n", restarted.stdout)[1])
        assert new_pid != pids[2]
        assert parent_of(new_pid) == run.proc.pid  # still the supervisor's child
        run.wait_for(rf"^chirpstream cluster: started node 2 again, pid {new_pid}$")
        assert states(data)["2"] == ("running", str(new_pid))

        stopped = brokers_cli("--data-dir", str(data), "--stop", "1")
        assert stopped.stdout == (
            f"broker 1 stopped (SIGTERM to pid {pids[1]}: a controlled shutdown)\n"
        )
        run.wait_for(r"^chirpstream cluster: node 1 exited cleanly; its log is .+$")
        refused = brokers_cli("--data-dir", str(data), "--kill", "1")
        assert (refused.returncode, refused.stdout, refused.stderr) == (
            1,
            "",
            "error: broker 1 is not running: `--restart 1` starts it again\n",
        )

        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(90) == 0
    finally:
        run.kill()
    assert not run_json.exists(), "a clean shutdown removes the run file"
    assert processes_naming(str(tmp_path)) == []
    gone = brokers_cli("--data-dir", str(data), "--restart", "0")
    assert gone.returncode == 1 and gone.stderr.startswith(
        f"error: no bundled cluster runs in {data}/ (no run.json): the broker controls act only "
        "on the cluster `chirpstream up` or `chirpstream cluster` started"
    )


@pytest.mark.cluster
def test_the_nodes_die_with_a_killed_cluster_supervisor(tmp_path):
    data = tmp_path / "c"
    run = RunningCluster(tmp_path, "--brokers", "2", "--base-port", str(free_base_port(2, 1)),
                         "--data-dir", str(data))  # fmt: skip
    try:
        run.wait_for(r"^READY bootstrap=")
        nodes = [int(m["pid"]) for m in re.finditer(NODE_LINE, run.output(), re.MULTILINE)]
        assert len(nodes) == 2
    finally:
        run.kill()  # SIGKILL: no chance to stop anything
    eventually(lambda: processes_naming(str(tmp_path)) == [], "no node left running", 15)
    gone = brokers_cli("--data-dir", str(data), "--kill", "0")
    assert gone.stderr == (
        f"error: the cluster recorded in {data}/run.json is no longer running (its "
        f"`chirpstream cluster`, pid {run.proc.pid}, has exited)\n"
    )
