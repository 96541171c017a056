"""Static membership (KIP-345) with real clients: a consumer with ``group.instance.id`` that
restarts within its session timeout gets its partitions back and the others see no rebalance."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.compat

TOPIC = "static"
SESSION_MS = 30_000  # the restart below must happen well within this


class Member:
    """A confluent-kafka consumer that records its rebalance callbacks."""

    def __init__(self, bootstrap: str, group: str, instance_id: str) -> None:
        self.events: list[tuple[str, list[int]]] = []
        self.owned: list[int] = []
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "group.instance.id": instance_id,
                "session.timeout.ms": SESSION_MS,
                "partition.assignment.strategy": "range",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([TOPIC], on_assign=self._assigned, on_revoke=self._revoked)

    def _assigned(self, _consumer, partitions) -> None:
        self.owned = sorted(tp.partition for tp in partitions)
        self.events.append(("assigned", self.owned))

    def _revoked(self, _consumer, partitions) -> None:
        self.owned = []
        self.events.append(("revoked", sorted(tp.partition for tp in partitions)))

    def poll(self) -> None:
        self.consumer.poll(0.1)


def poll_until(members: list[Member], done, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for member in members:
            member.poll()


def test_confluent_static_member_restart_keeps_its_partitions_without_a_rebalance(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(timeout=10)
    a, b = Member(broker.bootstrap, "g", "a"), Member(broker.bootstrap, "g", "b")
    poll_until([a, b], lambda: sorted(a.owned + b.owned) == [0, 1] and a.owned, "both assigned")
    before_a, events_b = a.owned, list(b.events)

    a.consumer.close()  # a static member sends no LeaveGroup: its place is kept
    restarted = Member(broker.bootstrap, "g", "a")
    poll_until([restarted, b], lambda: restarted.owned, "the restarted member's assignment")
    for _ in range(20):  # let b serve any rebalance it was told about
        b.poll()
        restarted.poll()

    assert restarted.owned == before_a
    assert b.events == events_b, "the other member went through a rebalance"
    group = admin.describe_consumer_groups(["g"])["g"].result(10)
    assert group.state.name == "STABLE"
    assert sorted(m.group_instance_id for m in group.members) == ["a", "b"]
    restarted.consumer.close()
    b.consumer.close()


def test_aiokafka_static_member_restart_keeps_its_generation(broker):
    """aiokafka's KIP-345 flow: a restarted static consumer rejoins in the same generation."""
    from aiokafka import AIOKafkaConsumer

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(timeout=10)

    async def member(instance_id: str) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            TOPIC,
            bootstrap_servers=broker.bootstrap,
            group_id="aio",
            group_instance_id=instance_id,
            session_timeout_ms=SESSION_MS,
            heartbeat_interval_ms=1000,
            enable_auto_commit=False,
        )
        await consumer.start()
        return consumer

    async def generation_of(consumer: AIOKafkaConsumer, partitions: int) -> tuple[int, set]:
        deadline = time.monotonic() + 60
        while len(consumer.assignment()) != partitions or consumer._coordinator.generation < 0:
            assert time.monotonic() < deadline, "timed out waiting for an assignment"
            await asyncio.sleep(0.1)
        return consumer._coordinator.generation, consumer.assignment()

    async def scenario() -> None:
        first = await member("only")
        generation, assignment = await generation_of(first, 2)
        await first.stop()  # a static member sends no LeaveGroup
        second = await member("only")
        try:
            assert await generation_of(second, 2) == (generation, assignment)
        finally:
            await second.stop()

    asyncio.run(scenario())
