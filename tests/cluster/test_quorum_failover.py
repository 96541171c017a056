"""The controller quorum on real processes (issue 15, R8 of the reliability plan): three
combined nodes (``process.roles=broker,controller``, three voters). The active controller
SIGKILLed or cut off from the quorum's links is replaced within seconds, a topic can be
created through the new one, the old one stops acting (check-quorum), no two controllers act
in one epoch, and the metadata logs agree. The single-controller mode is the "before": with
its one controller dead, leaders keep serving and producing works, but nothing fails over
until it returns."""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode

from tests.cluster.quorum_checks import (
    THREE_VOTERS,
    Stopwatch,
    active_controller,
    assert_logs_agree,
    assert_one_controller_per_epoch,
    metadata_logs,
)
from tests.cluster.scenario import produce_directly
from tests.support.history import History
from tests.support.waiting import eventually
from tests.support.workload import read_back

pytestmark = pytest.mark.cluster


def test_a_killed_controller_is_replaced_and_a_topic_is_created_through_the_new_one(
    cluster_factory,
):
    cluster = cluster_factory(**THREE_VOTERS)
    old, old_epoch = active_controller(cluster)
    cluster.create_topic("before", replication=3)

    clock = Stopwatch()
    cluster.kill(old)
    new, epoch = active_controller(cluster, after_epoch=old_epoch, not_=old)
    elected_s = clock()
    cluster.create_topic("after", replication=2)
    created_s = clock()
    print(
        f"new controller {new} in epoch {epoch} {elected_s:.2f} s after SIGKILL of {old}; "
        f"a topic created through it {created_s:.2f} s after"
    )
    assert epoch > old_epoch

    cluster.start_node(old)  # it comes back as a follower, with both topics
    eventually(
        lambda: (view := cluster.quorum_view(old)) and not view[0] and view[2] >= epoch,
        f"node {old} follows the controller of epoch {epoch} or later",
    )
    for topic in ("before", "after"):
        eventually(
            lambda t=topic: (view := cluster.view(old, t, 0)) and view.leader >= 0,
            f"node {old} knows {topic} again",
        )
    cluster.stop()
    logs = metadata_logs(cluster)
    assert_one_controller_per_epoch(cluster, logs)
    assert_logs_agree(logs)


def test_an_isolated_controller_resigns_and_only_one_controller_acts_per_epoch(cluster_factory):
    cluster = cluster_factory(**THREE_VOTERS, proxied=True)
    old, old_epoch = active_controller(cluster)
    cluster.create_topic("before", replication=3)

    cluster.isolate(old)
    # Check-quorum: cut off from both voters, it stops leading by itself.
    eventually(
        lambda: (view := cluster.quorum_view(old)) and not view[0],
        f"the isolated controller {old} resigns",
    )
    new, epoch = active_controller(cluster, after_epoch=old_epoch, not_=old)
    others = [n.node_id for n in cluster.nodes if n.node_id != old]
    # A topic created through the brokers that reach the new controller.
    admin = AdminClient({"bootstrap.servers": ",".join(cluster.node(n).bootstrap for n in others)})
    admin.create_topics([NewTopic("during", 1, 2)])["during"].result(30)
    eventually(
        lambda: all((v := cluster.view(n, "during", 0)) and v.leader >= 0 for n in others),
        "the brokers that reach the quorum know the new topic",
    )
    assert cluster.quorum_view(old)[0] is False, "the isolated node leads again while cut off"

    cluster.heal()
    eventually(
        lambda: (view := cluster.quorum_view(old)) and not view[0] and view[2] >= epoch,
        f"node {old} follows the controller of epoch {epoch} or later",
    )
    eventually(
        lambda: (view := cluster.view(old, "during", 0)) and view.leader >= 0,
        f"node {old} learns of the topic created while it was cut off",
    )
    cluster.stop()
    logs = metadata_logs(cluster)
    acted = assert_one_controller_per_epoch(cluster, logs)
    assert acted[old_epoch] == {old} and new in acted[epoch]
    assert_logs_agree(logs)


def test_with_its_single_controller_dead_leaders_serve_and_nothing_fails_over(cluster_factory):
    """Three brokers and one dedicated controller (node 3): the quorum of one, as ZooKeeper
    was. Its loss stops every change, not the data path."""
    cluster = cluster_factory(brokers=3, controllers=1, dedicated_controllers=True)
    controller = 3
    cluster.create_topic("solo", assignment=[[1, 2, 0]], **{"min.insync.replicas": "2"})
    before = cluster.view(0, "solo", 0)
    assert before is not None and before.leader == 1

    history = History()
    # The leader makes its replica once it sees the topic: wait until it takes writes.
    eventually(
        lambda: produce_directly(cluster, 1, "solo", history) is ErrorCode.none,
        "the leader takes writes",
    )
    cluster.kill(controller)
    for _ in range(5):  # acks=all to the leader that was elected before the controller died
        assert produce_directly(cluster, 1, "solo", history) is ErrorCode.none
    reads = read_back(cluster.node(1).bootstrap, "solo", 1)
    assert history.check(reads).valid

    cluster.kill(1)
    # No failover: twice the session timeout after the leader died, the others still name it.
    time.sleep(4.0)
    for node in (0, 2):
        view = cluster.view(node, "solo", 0)
        assert view is not None and (view.leader, view.leader_epoch) == (1, before.leader_epoch)

    cluster.start_node(controller)  # it returns: the dead leader is fenced and replaced
    new = cluster.wait_for_leader("solo", 0, not_=1)
    assert new in (0, 2)
    assert produce_directly(cluster, new, "solo", history) is ErrorCode.none
    report = history.check(read_back(cluster.node(new).bootstrap, "solo", 1))
    assert report.valid, report.details()
    assert report.acked == 7
