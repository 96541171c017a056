"""A compacted topic on a cluster: a follower that was down while the leader compacted
catches up by replicating the cleaned log (its empty batches keep the offsets gap-free), and
once it leads, confluent-kafka reading from offset 0 finds the latest value of every key at
the offset it was written to."""

from __future__ import annotations

import pytest

from tests.reliability.test_compaction_crash import CLEANED, TOPIC, check_latest, read_from_zero
from tests.support.confluent import produce
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster

LEADER, FOLLOWER = 1, 2  # node 0 is the controller and never holds the topic
CONFIG = {"cleanup.policy": "compact", "segment.bytes": "4096", "min.cleanable.dirty.ratio": "0.01"}


def test_a_follower_catches_up_from_a_compacted_leader_and_serves_the_latest_values(
    cluster_factory,
):
    cluster = cluster_factory(brokers=3, controllers=1, config={"log.cleaner.backoff.ms": "200"})
    cluster.create_topic(TOPIC, assignment=[[LEADER, FOLLOWER]], **CONFIG)
    cluster.terminate(FOLLOWER)
    messages = [(b"k%d" % k, b"v%d-%d" % (k, r)) for r in range(25) for k in range(40)]
    delivered = produce(
        cluster.node(LEADER).bootstrap, TOPIC, messages, acks=1, **{"batch.num.messages": 10}
    )
    written = {d.offset: (d.key, d.value) for d in delivered}
    leader = cluster.node(LEADER)
    eventually(lambda: CLEANED in leader.read_log(), "the leader's cleaning pass", timeout=60)

    cluster.start_node(FOLLOWER)
    eventually(
        lambda: sorted(cluster.isr(TOPIC, 0)) == [LEADER, FOLLOWER], "the follower in the ISR"
    )
    cluster.terminate(LEADER)
    assert cluster.wait_for_leader(TOPIC, 0, not_=LEADER) == FOLLOWER
    read = read_from_zero(cluster.node(FOLLOWER).bootstrap)
    check_latest(read, written)
    assert len(read) < len(written), "the follower holds the uncompacted log"
