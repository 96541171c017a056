"""The collector's two readers of consumer groups against a real broker with a real group:
the probe's (ListGroups, FindCoordinator, DescribeGroups over the project's wire client, used
wherever it can ask) and librdkafka's admin client (kept for TLS and SASL clusters) store the
same group, member, assignment and commit rows."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from dashboard.collector import Collector
from dashboard.rows import ClusterSample
from dashboard.store import Store

TOPIC, PARTITIONS = "tweets", 6
GROUP, SIMPLE = "analytics", "offsets-only"  # a subscribing group; one that only commits


def test_the_wire_and_librdkafka_readers_store_the_same_group_rows(broker, tmp_path):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS)])[TOPIC].result(15)
    simple = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": SIMPLE})
    simple.commit(offsets=[TopicPartition(TOPIC, 1, 4)], asynchronous=False)
    simple.close()
    config = {"bootstrap.servers": broker.bootstrap, "group.id": GROUP, "client.id": "worker"}
    members = [Consumer(config), Consumer(config)]
    stop = threading.Event()

    def keep_polling(member: Consumer) -> None:
        member.subscribe([TOPIC])
        while not stop.is_set():
            member.poll(0.1)

    pollers = [threading.Thread(target=keep_polling, args=(m,)) for m in members]
    for poller in pollers:
        poller.start()
    collector = Collector(broker.bootstrap, Store(tmp_path / "store.sqlite"))
    try:
        wire = _stable(collector)
        view = collector.probe.view()
        librdkafka = ClusterSample(0)
        assert collector._read_groups(librdkafka, view, wire=False)
        collector.probe._versions.clear()  # as a broker before FindCoordinator v4 (Kafka 3.0)
        again = ClusterSample(0)
        assert collector._read_groups(again, view, wire=True)  # one FindCoordinator v3 per group
    finally:
        stop.set()
        for poller in pollers:
            poller.join(10)
        for member in members:
            member.close()
        collector.close()
    assert _rows(again) == _rows(wire)
    assert _rows(librdkafka) == _rows(wire)
    groups, member_rows, commits = _rows(wire)
    assert [(g.group_id, g.state, g.protocol_type, g.members) for g in groups] == [
        (GROUP, "STABLE", "consumer", 2),
        (SIMPLE, "EMPTY", "", 0),
    ]
    assigned = sorted(tp for m in member_rows for tp in m.assignment)
    assert assigned == [(TOPIC, p) for p in range(PARTITIONS)]
    assert {m.client_id for m in member_rows} == {"worker"}
    assert (SIMPLE, TOPIC, 1, 4) in [
        (c.group_id, c.topic, c.partition, c.committed) for c in commits
    ]


def _stable(collector: Collector) -> ClusterSample:
    """The wire reader's sample once both members share every partition."""
    deadline = time.monotonic() + 30
    while True:
        sample = ClusterSample(0)
        view = collector.probe.view()
        assert view is not None
        collector._read_groups(sample, view, wire=True)
        assigned = sum(len(m.assignment) for m in sample.members if m.group_id == GROUP)
        if assigned == PARTITIONS and len(sample.members) == 2:
            return sample
        assert time.monotonic() < deadline, f"the group did not settle: {sample.members}"
        time.sleep(0.2)


def _rows(sample: ClusterSample) -> tuple[list, list, list]:
    return (
        sorted(sample.groups, key=lambda g: g.group_id),
        sorted(sample.members, key=lambda m: (m.group_id, m.member_id)),
        sorted(sample.commits, key=lambda c: (c.group_id, c.topic, c.partition)),
    )
