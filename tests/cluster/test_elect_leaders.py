"""ElectLeaders on a 3-node cluster, from confluent-kafka's ``AdminClient.elect_leaders`` and
straight to a broker that is not the controller (which forwards it), and the controller's
auto leader rebalance bringing a restarted broker's preferred leaderships back on its own."""

from __future__ import annotations

import pytest
from confluent_kafka import ElectionType, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from kio.schema.errors import ErrorCode

from tests.support.cluster import Cluster
from tests.support.waiting import eventually
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster


def elect(admin: AdminClient, kind: ElectionType, topic: str, partition: int) -> ErrorCode:
    """One partition's election through confluent-kafka; its error code (none: elected)."""
    tp = TopicPartition(topic, partition)
    try:
        results = admin.elect_leaders(kind, [tp]).result(30)
    except KafkaException as error:  # the request as a whole failed
        return ErrorCode(error.args[0].code())
    (error,) = results.values()
    return ErrorCode.none if error is None else ErrorCode(error.code())


def elect_through(cluster: Cluster, node_id: int, kind: int, topic: str, partition: int):
    """ElectLeaders v2 sent to broker ``node_id``'s client listener; (top-level error, the
    partition's error)."""
    with WireClient(cluster.node(node_id).port, timeout=30.0) as client:
        answer = client.request(43, 2, {
            "election_type": kind,
            "topic_partitions": [{"topic": topic, "partitions": [partition]}],
            "timeout": 30_000,
        })  # fmt: skip
    (result,) = answer.replica_election_results
    (one,) = result.partition_result
    return ErrorCode(answer.error_code), ErrorCode(one.error_code)


def in_isr(cluster: Cluster, topic: str, broker: int) -> bool:
    return broker in cluster.isr(topic, 0)


def test_preferred_and_unclean_elections_asked_by_a_client_of_any_broker(cluster_factory):
    cluster = cluster_factory(brokers=3, config={"auto.leader.rebalance.enable": "false"})
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    cluster.create_topic("e", assignment=[[1, 2, 0]])
    assert elect(admin, ElectionType.PREFERRED, "e", 0) == ErrorCode.election_not_needed
    assert elect(admin, ElectionType.UNCLEAN, "e", 0) == ErrorCode.election_not_needed
    assert elect(admin, ElectionType.PREFERRED, "e", 7) == ErrorCode.unknown_topic_or_partition

    # The preferred leader's broker restarts: its leadership moves away and stays away.
    cluster.restart(1)
    eventually(lambda: in_isr(cluster, "e", 1), "the restarted broker is back in the ISR")
    moved = cluster.leader("e", 0)
    assert moved in (0, 2)
    assert elect(admin, ElectionType.PREFERRED, "e", 0) == ErrorCode.none
    eventually(
        lambda: all(view.leader == 1 for view in cluster.views("e", 0)),
        "every broker shows the preferred leader back",
    )
    # Asked of broker 2 (not the controller): forwarded, and answered per partition.
    assert elect_through(cluster, 2, 0, "e", 0) == (ErrorCode.none, ErrorCode.election_not_needed)

    # Unclean: the only in-sync replica is dead, an out-of-sync one is alive.
    cluster.create_topic("u", assignment=[[1, 2]])
    cluster.kill(2)
    eventually(lambda: cluster.isr("u", 0) == (1,), "the dead follower left the ISR")
    cluster.kill(1)
    cluster.start_node(2)
    eventually(
        lambda: (view := cluster.view(2, "u", 0)) is not None and view.leader == -1,
        "no leader: the ISR is dead",
    )
    assert elect_through(cluster, 2, 0, "u", 0)[1] == ErrorCode.preferred_leader_not_available
    assert elect(admin, ElectionType.UNCLEAN, "u", 0) == ErrorCode.none
    assert cluster.wait_for_leader("u", 0) == 2


def test_auto_leader_rebalance_gives_a_restarted_broker_its_preferred_leaderships_back(
    cluster_factory,
):
    cluster = cluster_factory(brokers=3)  # auto.leader.rebalance.enable is on by default
    cluster.create_topic("r", assignment=[[1, 2, 0]])
    before = cluster.freshest("r", 0)
    assert before is not None and before.leader == 1
    cluster.restart(1)
    # The bundled leader.imbalance.check.interval is 10 s; the broker also has to catch up.
    eventually(lambda: cluster.leader("r", 0) == 1, "the preferred leader is back", 40)
    # Its controlled shutdown moved the leadership away (one epoch), the rebalance back.
    after = cluster.freshest("r", 0)
    assert after is not None and after.leader_epoch >= before.leader_epoch + 2
