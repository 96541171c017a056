"""The cluster CLI verbs on a real 3-node cluster, run as a user runs them: `chirpstream
brokers`, `topics --describe --under-replicated-partitions / --unavailable-partitions`
(kafka-topics.sh's lines) and `leader-election` (kafka-leader-election.sh's lines), before
and after a broker is killed and restarted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.broker_process import ROOT
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster


def chirpstream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chirpstream", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass(frozen=True)
class Partition:
    topic: str
    id: int
    leader: int
    replicas: list[int]
    isrs: list[int]


def partitions(cluster) -> list[Partition]:
    """Every partition of every topic, sorted as the tools print them."""
    topics = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(timeout=10).topics
    found = [
        Partition(name, p.id, p.leader, p.replicas, p.isrs)
        for name, topic in topics.items()
        for p in topic.partitions.values()
    ]
    return sorted(found, key=lambda p: (p.topic, p.id))


def agreed_leaders(cluster) -> dict[tuple[str, int], int] | None:
    """Each partition's leader when every running broker names the same one, else None."""
    leaders = {}
    for p in partitions(cluster):
        named = {view.leader for view in cluster.views(p.topic, p.id)}
        if len(named) != 1:
            return None
        leaders[(p.topic, p.id)] = named.pop()
    return leaders


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()[1:]]


def test_brokers_partitions_and_leader_election(cluster_factory, tmp_path):
    # The elections below are the tool's: the controller's own rebalance could beat it to one.
    cluster = cluster_factory(brokers=3, config={"auto.leader.rebalance.enable": "false"})
    cluster.create_topic("t", assignment=[[1, 2, 0], [2, 0, 1], [1, 0, 2]])
    cluster.create_topic("solo", assignment=[[1]])
    bootstrap = ["--bootstrap-server", cluster.bootstrap]
    controller = ["--bootstrap-controller", f"127.0.0.1:{cluster.node(0).layout.controller_port}"]
    ports = {n.node_id: n.layout.client_port for n in cluster.brokers}

    listed = chirpstream("brokers", *bootstrap, *controller)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:6] == ["ID", "ADDRESS", "STATE", "PID", "CONTROLLER", "LEADERS"]
    # Leaderships over every topic, internal ones too, as the cluster's metadata tells them.
    topics = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(timeout=10).topics
    leads = Counter(p.leader for topic in topics.values() for p in topic.partitions.values())
    assert leads[1] >= 3 and leads[2] >= 1  # t-0, t-2 and solo-0, t-1
    assert table(listed.stdout) == [
        ["0", f"127.0.0.1:{ports[0]}", "running", "-", "yes", str(leads[0])],
        ["1", f"127.0.0.1:{ports[1]}", "running", "-", "no", str(leads[1])],
        ["2", f"127.0.0.1:{ports[2]}", "running", "-", "no", str(leads[2])],
    ]
    healthy = chirpstream("topics", "--describe", "--under-replicated-partitions", *bootstrap)
    assert (healthy.returncode, healthy.stdout) == (0, "")

    cluster.kill(1)
    cluster.wait_for_leader("t", 0, not_=1)
    eventually(lambda: 1 not in cluster.isr("t", 0), "broker 1 out of the ISR of t-0")
    eventually(lambda: 1 not in cluster.isr("t", 1), "broker 1 out of the ISR of t-1")

    def printed(*flags: str) -> list[str]:
        done = chirpstream("topics", "--describe", *flags, *bootstrap)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    def fields(line: str) -> dict[str, str]:
        return dict(f.split(": ", 1) for f in line.strip("\t").split("\t"))

    # __consumer_offsets has replicas on broker 1 too: it is listed by the same rules.
    under = [fields(line) for line in printed("--under-replicated-partitions")]
    assert {("t", "0"), ("t", "1")} <= {(f["Topic"], f["Partition"]) for f in under}
    assert all(len(f["Isr"].split(",")) < len(f["Replicas"].split(",")) for f in under)
    unavailable = printed("--unavailable-partitions")
    assert "\tTopic: solo\tPartition: 0\tLeader: none\tReplicas: 1\tIsr: 1" in unavailable
    assert all(fields(line)["Leader"] in ("none", "1") for line in unavailable)
    assert all(
        line.startswith("\tTopic: ")
        for line in printed("--under-replicated-partitions") + unavailable
    )  # no topic lines
    down = eventually(
        lambda: (
            (rows := table(chirpstream("brokers", *bootstrap, *controller).stdout))
            and rows[1][2] == "stopped"
            and rows
        ),
        "broker 1 shown stopped",
    )
    assert [row[0] for row in down] == ["0", "1", "2"]

    cluster.start_node(1)
    eventually(lambda: 1 in cluster.isr("t", 0), "broker 1 back in the ISR of t-0")
    # Asked of a broker that is not the controller (node 2): it forwards the request.
    elect = ["leader-election", "--bootstrap-server", cluster.node(2).bootstrap]
    elect += ["--election-type", "preferred"]
    listed = tmp_path / "elect.json"
    listed.write_text(json.dumps({"partitions": [{"topic": "t", "partition": i} for i in (1, 0)]}))
    done = chirpstream(*elect, "--path-to-json-file", str(listed))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "Successfully completed leader election (PREFERRED) for partitions t-0\n"
        "Valid replica already elected for partitions t-1\n"
    )
    eventually(lambda: cluster.leader("t", 0) == 1, "broker 1 leads t-0 again")
    again = chirpstream(*elect, "--topic", "t", "--partition", "0")
    assert again.stdout == "Valid replica already elected for partitions t-0\n"
    # Every other partition broker 1 led before it died (t-2, maybe __consumer_offsets-0).
    eventually(
        lambda: all(1 in p.isrs for p in partitions(cluster) if 1 in p.replicas),
        "broker 1 back in every ISR",
    )
    # Every broker agrees on each leader, so the list below is the controller's too.
    leaders = eventually(lambda: agreed_leaders(cluster), "every broker shows the same leaders")
    moved = [
        f"{p.topic}-{p.id}"
        for p in partitions(cluster)
        if leaders[(p.topic, p.id)] != p.replicas[0]
    ]
    assert "t-2" in moved
    everything = chirpstream(*elect, "--all-topic-partitions")
    assert (everything.returncode, everything.stdout) == (
        0,
        f"Successfully completed leader election (PREFERRED) for partitions {', '.join(moved)}\n",
    ), everything.stderr
    eventually(
        lambda: all(p.leader == p.replicas[0] for p in partitions(cluster)),
        "every partition led by its preferred replica",
    )

    missing = chirpstream(*elect, "--topic", "nope", "--partition", "0")
    assert missing.returncode == 1
    assert missing.stdout.startswith(
        "Error completing leader election (PREFERRED) for partition: nope-0: "
        "UNKNOWN_TOPIC_OR_PARTITION"
    )
    assert missing.stderr == "error: 1 replica(s) could not be elected\n"


def test_a_dead_single_controller_is_not_listed_as_the_controller(cluster_factory):
    """With one controller (node 0), killed: no other can be elected, DescribeQuorum finds
    no leader, and the brokers still name node 0 in their metadata; it is listed stopped,
    and no broker is the controller (README step 10: the single point of failure)."""
    cluster = cluster_factory(brokers=3)  # node 0 is the only voter
    controller = ["--bootstrap-controller", f"127.0.0.1:{cluster.node(0).layout.controller_port}"]
    cluster.kill(0)
    listed = chirpstream("brokers", "--bootstrap-server", cluster.bootstrap, *controller)
    assert listed.returncode == 0, listed.stderr
    rows = table(listed.stdout)
    assert [(row[0], row[2], row[4]) for row in rows] == [
        ("0", "stopped", "no"),
        ("1", "running", "no"),
        ("2", "running", "no"),
    ]


def test_bad_flags_and_no_cluster_are_one_line(tmp_path):
    done = chirpstream("brokers", "--bootstrap-server", "127.0.0.1:1")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "error: no broker at 127.0.0.1:1 answered: is the cluster running?\n"
    done = chirpstream("leader-election", "--election-type", "preferred", "--topic", "t")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "error: Missing required option(s): --partition\n"
    done = chirpstream("leader-election", "--election-type", "sideways", "--all-topic-partitions")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    done = chirpstream(
        "leader-election", "--election-type", "preferred", "--all-topic-partitions",
        "--topic", "t", "--partition", "0",
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        1,
        "error: One and only one of the following options is required: "
        "--topic, --all-topic-partitions, --path-to-json-file\n",
    )
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps({"partitions": [{"topic": "t", "partition": 0}] * 2}))
    done = chirpstream(
        "leader-election", "--election-type", "unclean", "--path-to-json-file", str(twice)
    )
    assert (done.returncode, done.stderr) == (
        1,
        "error: Replica election data contains duplicate partitions: t-0\n",
    )


def test_unclean_leader_election_brings_an_offline_partition_back(cluster_factory):
    """u-0 on brokers 1 and 2: 2 dies (ISR [1]), then 1 (offline, ISR still [1]); 2 comes
    back outside the ISR, so only an unclean election gives the partition a leader again."""
    cluster = cluster_factory(brokers=3)
    cluster.create_topic("u", assignment=[[1, 2]])
    cluster.kill(2)
    eventually(lambda: cluster.isr("u", 0) == (1,), "broker 2 out of the ISR")
    cluster.kill(1)
    eventually(lambda: cluster.leader("u", 0) == -1, "u-0 offline")
    cluster.start_node(2)
    offline = chirpstream(
        "topics", "--describe", "--unavailable-partitions", "--topic", "u",
        "--bootstrap-server", cluster.bootstrap,
    )  # fmt: skip
    assert offline.stdout == "\tTopic: u\tPartition: 0\tLeader: none\tReplicas: 1,2\tIsr: 1\n"
    elect = ["leader-election", "--bootstrap-server", cluster.bootstrap]
    elect += ["--topic", "u", "--partition", "0"]
    preferred = chirpstream(*elect, "--election-type", "preferred")
    assert preferred.returncode == 1  # the preferred replica, 1, is down
    assert preferred.stdout.startswith(
        "Error completing leader election (PREFERRED) for partition: u-0: "
    )
    done = chirpstream(*elect, "--election-type", "unclean")
    assert (done.returncode, done.stdout) == (
        0,
        "Successfully completed leader election (UNCLEAN) for partitions u-0\n",
    ), done.stderr
    eventually(lambda: cluster.leader("u", 0) == 2, "broker 2 leads u-0")
