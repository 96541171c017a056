"""tests/support/cluster.py on a real cluster: what it reads from the nodes (leader, ISR,
active controller) and the faults it makes (kill, pause, restart)."""

from __future__ import annotations

import pytest

from tests.support.waiting import eventually
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster


def test_the_harness_reads_leaders_isr_and_the_controller_and_follows_a_failover(
    cluster_factory,
):
    cluster = cluster_factory(brokers=3)
    assert cluster.controller() == 0  # the single voter
    cluster.create_topic("h", assignment=[[1, 2, 0]])
    assert cluster.leader("h", 0) == 1  # the preferred leader, first of the assignment
    assert sorted(cluster.isr("h", 0)) == [0, 1, 2]
    seen = cluster.view(2, "h", 0)
    assert seen is not None and (seen.replicas, seen.leader) == ((1, 2, 0), 1)

    cluster.kill(1)
    new = cluster.wait_for_leader("h", 0, not_=1)
    assert new in (0, 2)
    assert cluster.view(new, "h", 0).leader_epoch > seen.leader_epoch
    eventually(lambda: 1 not in cluster.isr("h", 0), "the dead broker left the ISR")

    cluster.pause(2)
    assert cluster.view(0, "h", 0) is not None  # a paused node is skipped, not waited on
    assert all(view.node != 2 for view in cluster.views("h", 0))
    cluster.resume(2)
    cluster.start_node(1)  # on its data directory and ports: it knows the partition at once
    restarted = cluster.view(1, "h", 0)
    assert restarted is not None and restarted.leader == new


def cluster_ids(port: int) -> set[str]:
    """The cluster id a node names in DescribeCluster and in Metadata."""
    with WireClient(port) as client:
        described = client.request(60, 0, {"include_cluster_authorized_operations": False})
        metadata = client.request(
            3, 12, {"topics": [], "include_topic_authorized_operations": False}
        )
    return {described.cluster_id, metadata.cluster_id}


def test_an_isolated_controller_is_replaced_and_the_quorum_heals(cluster_factory):
    """Three voters whose quorum links pass through proxies (so each node's
    controller.quorum.voters has other addresses) name one cluster id; isolating the active
    controller makes the other two elect a new one in a later epoch; healing brings it back
    as a follower of that one."""
    cluster = cluster_factory(brokers=3, controllers=3, proxied=True)
    named = set().union(*(cluster_ids(node.layout.client_port) for node in cluster.nodes))
    assert len(named) == 1, f"the nodes name several cluster ids: {named}"
    old = eventually(lambda: cluster.controller() + 1, "an active controller") - 1
    old_epoch = cluster.quorum_view(old)[2]
    cluster.isolate(old)

    def replaced() -> tuple[int, int] | None:
        for voter in (n for n in range(3) if n != old):
            view = cluster.quorum_view(voter)
            if view is not None and view[0] and view[2] > old_epoch:
                return voter, view[2]
        return None

    _, epoch = eventually(replaced, f"a controller other than {old}")
    cluster.heal()
    eventually(
        lambda: (
            (view := cluster.quorum_view(old))
            and not view[0]
            and view[1] != old
            and view[2] >= epoch
        ),
        f"{old} follows the controller elected in epoch {epoch} or later",
    )
