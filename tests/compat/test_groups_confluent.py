"""Consumer groups with confluent-kafka: three consumer processes share a topic under each
client-side assignor, a SIGKILLed member's partitions move to the survivors, and the admin
API sees groups, members, assignments, committed offsets and lag as Kafka would report them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.broker_process import KAFKA_OFFSETS_PARTITIONS, ROOT
from tests.support.confluent import produce, watermarks
from tests.support.messages import keyed_messages
from tests.support.waiting import eventually

pytestmark = pytest.mark.compat

# Short group timeouts so a dead member is noticed in about two seconds.
GROUP_BROKER = {"group.min.session.timeout.ms": "1000", **KAFKA_OFFSETS_PARTITIONS}
TOPIC = "tweets"
PARTITIONS = 6


class ConsumerProcess:
    def __init__(self, broker, group: str, assignor: str, log: Path) -> None:
        self.log = log
        out = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.group_consumer",
                broker.bootstrap,
                group,
                TOPIC,
                assignor,
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()

    def events(self) -> list[dict]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def consumed(self) -> list[tuple[int, int]]:
        return [(e["partition"], e["offset"]) for e in self.events() if e["event"] == "consumed"]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def describe(admin: AdminClient, group: str):
    return admin.describe_consumer_groups([group])[group].result(10)


def stable_ownership(admin: AdminClient, group: str, members: int):
    """The group's assignment once it is Stable with ``members`` members, or None."""
    found = describe(admin, group)
    if found.state.name != "STABLE" or len(found.members) != members:
        return None
    owned = [sorted(tp.partition for tp in m.assignment.topic_partitions) for m in found.members]
    return found, owned


def committed(admin: AdminClient, group: str) -> dict[int, int]:
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    )
    result = admin.list_consumer_group_offsets([request])[group].result(10)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_three_consumers_share_and_survive_a_kill(broker_factory, tmp_path, assignor):
    broker = broker_factory(config=GROUP_BROKER)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(10)
    delivered = produce(broker.bootstrap, TOPIC, keyed_messages(3000))
    group = f"analytics-{assignor}"
    consumers = [ConsumerProcess(broker, group, assignor, tmp_path / f"c{i}.log") for i in range(3)]
    try:
        # One owner per partition, every partition owned, in the settled generation.
        found, owned = eventually(lambda: stable_ownership(admin, group, 3), "3 members", 60)
        assert sorted(p for parts in owned for p in parts) == list(range(PARTITIONS))
        assert all(len(parts) == 2 for parts in owned)
        assert not found.is_simple_consumer_group
        assert found.partition_assignor == assignor

        # Every message is consumed (at least once; commits land before the next poll).
        wanted = {(m.partition, m.offset) for m in delivered}
        eventually(
            lambda: wanted <= {x for c in consumers for x in c.consumed()},
            "every message to be consumed",
            60,
        )
        high = [high for _, high in watermarks(broker.bootstrap, TOPIC, PARTITIONS)]
        eventually(
            lambda: committed(admin, group) == dict(enumerate(high)),
            "commits to reach the high watermarks",
            30,
        )

        # SIGKILL one member: after its session times out the survivors own everything and
        # resume its partitions from the committed offsets.
        victim = consumers.pop(0)
        victim_events = [e for e in victim.events() if e["event"] in ("assigned", "revoked")]
        victim.kill()
        before = committed(admin, group)
        seen_before = [len(c.consumed()) for c in consumers]
        _, owned = eventually(lambda: stable_ownership(admin, group, 2), "2 members", 60)
        assert sorted(p for parts in owned for p in parts) == list(range(PARTITIONS))
        assert victim_events, "the killed consumer never had partitions"

        more = produce(broker.bootstrap, TOPIC, keyed_messages(600))
        wanted = {(m.partition, m.offset) for m in more}
        eventually(
            lambda: wanted <= {x for c in consumers for x in c.consumed()},
            "the survivors to consume new messages",
            60,
        )
        after_kill = [
            x for c, n in zip(consumers, seen_before, strict=True) for x in c.consumed()[n:]
        ]
        assert all(offset >= before[partition] for partition, offset in after_kill), (
            "a survivor re-read below the committed offset"
        )
        first_after = {}
        for partition, offset in after_kill:
            first_after[partition] = min(offset, first_after.get(partition, offset))
        assert first_after == before, "consumption did not resume at the committed offsets"
    finally:
        for consumer in consumers:
            consumer.stop()


def test_admin_sees_groups_offsets_and_lag(broker_factory, tmp_path):
    broker = broker_factory(config=GROUP_BROKER)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(10)
    delivered = produce(broker.bootstrap, TOPIC, keyed_messages(1200))
    consumer = ConsumerProcess(broker, "lagging", "range", tmp_path / "c.log")
    try:
        eventually(lambda: stable_ownership(admin, "lagging", 1), "one member", 60)
        eventually(lambda: len(consumer.consumed()) >= len(delivered), "consumption", 60)
        high = [h for _, h in watermarks(broker.bootstrap, TOPIC, PARTITIONS)]
        eventually(lambda: committed(admin, "lagging") == dict(enumerate(high)), "commits", 30)
    finally:
        consumer.stop()

    listed = admin.list_consumer_groups().result(10)
    states = {g.group_id: g.state.name for g in listed.valid}
    assert states["lagging"] == "EMPTY"  # the member left cleanly

    # Lag builds for an idle group: produce more, then lag = high watermark - committed.
    more = produce(broker.bootstrap, TOPIC, keyed_messages(300))
    offsets = committed(admin, "lagging")
    high_now = [h for _, h in watermarks(broker.bootstrap, TOPIC, PARTITIONS)]
    lag = {p: high_now[p] - offsets[p] for p in range(PARTITIONS)}
    for p in range(PARTITIONS):
        assert lag[p] == sum(1 for m in more if m.partition == p)

    # A group that committed one partition only: the others read as "no offset".
    simple = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "partial"})
    simple.commit(offsets=[TopicPartition(TOPIC, 2, 5)], asynchronous=False)
    simple.close()
    assert committed(admin, "partial") == {
        p: 5 if p == 2 else OFFSET_INVALID for p in range(PARTITIONS)
    }


def test_admin_deletes_only_empty_groups(broker_factory, tmp_path):
    broker = broker_factory(config=GROUP_BROKER)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(10)
    member = ConsumerProcess(broker, "busy", "range", tmp_path / "busy.log")
    try:
        eventually(lambda: stable_ownership(admin, "busy", 1), "one member", 60)
        with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
            admin.delete_consumer_groups(["busy"])["busy"].result(10)
    finally:
        member.stop()
    admin.delete_consumer_groups(["busy"])["busy"].result(10)
    assert "busy" not in {g.group_id for g in admin.list_consumer_groups().result(10).valid}
    with pytest.raises(KafkaException, match="GROUP_ID_NOT_FOUND"):
        admin.delete_consumer_groups(["busy"])["busy"].result(10)
