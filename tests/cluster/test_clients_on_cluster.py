"""kafka-python, aiokafka and kcat on a 3-broker cluster, each given one broker to bootstrap
from: a topic with three replicas looks the same from every broker (leader, replicas, ISR),
what is produced through any broker reaches each partition's leader and is consumed back
through another, and with a broker down Metadata lists it among the offline replicas while
its leadership has moved. A consumer group works through any broker too."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from tests.support.cluster import Cluster
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster

TOPIC = "clients"
# Each broker the preferred leader of one partition, every broker a replica of each.
ASSIGNMENT = [[0, 1, 2], [1, 2, 0], [2, 0, 1]]

# (leader, replicas, isr, offline replicas) of each partition
Layout = dict[int, tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


def _layout(partitions: list[dict[str, Any]]) -> Layout:
    """A topic's partitions as kafka-python (Metadata v12 names) or aiokafka (v5 names)
    hand them over."""
    found: Layout = {}
    for p in partitions:
        index = p.get("partition_index", p.get("partition"))
        found[index] = (
            p.get("leader_id", p.get("leader")),
            tuple(p.get("replica_nodes", p.get("replicas"))),
            tuple(sorted(p.get("isr_nodes", p.get("isr")))),
            tuple(sorted(p["offline_replicas"])),
        )
    return found


def kafka_python_layout(bootstrap: str) -> Layout:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (topic,) = admin.describe_topics([TOPIC])
        return _layout(topic["partitions"])
    finally:
        admin.close()


def aiokafka_layout(bootstrap: str) -> Layout:
    async def describe() -> Layout:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (topic,) = await admin.describe_topics([TOPIC])
            return _layout(topic["partitions"])
        finally:
            await admin.close()

    return asyncio.run(describe())


def kcat(*args: str, stdin: str | None = None) -> str:
    assert shutil.which("kcat"), "kcat is not installed: `make test` installs it"
    done = subprocess.run(
        ["kcat", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def kcat_layout(bootstrap: str) -> Layout:
    """kcat -L: leader, replicas and ISR (it does not show offline replicas)."""
    listed = json.loads(kcat("-L", "-J", "-b", bootstrap, "-t", TOPIC))
    (topic,) = listed["topics"]
    return {
        p["partition"]: (
            p["leader"],
            tuple(r["id"] for r in p["replicas"]),
            tuple(sorted(r["id"] for r in p["isrs"])),
            (),
        )
        for p in topic["partitions"]
    }


def without_offline(layout: Layout) -> Layout:
    return {index: (*rest, ()) for index, (*rest, _) in layout.items()}


def expected(leaders: dict[int, int], isr: tuple[int, ...], offline: tuple[int, ...]) -> Layout:
    return {i: (leaders[i], tuple(ASSIGNMENT[i]), isr, offline) for i in range(len(ASSIGNMENT))}


def every_client_sees(cluster: Cluster, brokers: list[int], wanted: Layout) -> None:
    for broker in brokers:
        bootstrap = cluster.node(broker).bootstrap
        assert kafka_python_layout(bootstrap) == wanted, f"kafka-python through {broker}"
        assert aiokafka_layout(bootstrap) == wanted, f"aiokafka through {broker}"
        assert kcat_layout(bootstrap) == without_offline(wanted), f"kcat through {broker}"


# -- producing and consuming through one broker ----------------------------------------------


def kafka_python_produce(bootstrap: str, tag: str) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for partition in range(len(ASSIGNMENT)):
            producer.send(TOPIC, f"{tag}-{partition}".encode(), partition=partition).get(30)
    finally:
        producer.close()


def aiokafka_produce(bootstrap: str, tag: str) -> None:
    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for partition in range(len(ASSIGNMENT)):
                await producer.send_and_wait(
                    TOPIC, f"{tag}-{partition}".encode(), partition=partition
                )
        finally:
            await producer.stop()

    asyncio.run(produce())


def kcat_produce(bootstrap: str, tag: str) -> None:
    for partition in range(len(ASSIGNMENT)):
        kcat("-P", "-b", bootstrap, "-t", TOPIC, "-p", str(partition), "-X", "acks=all",
             stdin=f"{tag}-{partition}\n")  # fmt: skip


def kafka_python_read(bootstrap: str) -> set[str]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(len(ASSIGNMENT))]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        seen: set[str] = set()
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                seen.update(r.value.decode() for r in records)
        return seen
    finally:
        consumer.close()


def aiokafka_read(bootstrap: str) -> set[str]:
    async def read() -> set[str]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [AioTopicPartition(TOPIC, p) for p in range(len(ASSIGNMENT))]
            consumer.assign(partitions)
            await consumer.seek_to_beginning()
            ends = await consumer.end_offsets(partitions)
            seen: set[str] = set()
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    seen.update(r.value.decode() for r in records)
            return seen
        finally:
            await consumer.stop()

    return asyncio.run(read())


def kcat_read(bootstrap: str) -> set[str]:
    return set(kcat("-C", "-b", bootstrap, "-t", TOPIC, "-o", "beginning", "-e").split())


def group_read(bootstrap: str, group: str) -> set[str]:
    """kafka-python in consumer group ``group``: everything, its offsets committed."""
    consumer = KafkaConsumer(
        TOPIC, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    try:
        seen: set[str] = set()

        def poll() -> bool:
            for records in consumer.poll(timeout_ms=500).values():
                seen.update(record.value.decode() for record in records)
            return len(seen) == 3 * len(ASSIGNMENT)

        eventually(poll, f"group {group} read every record")
        consumer.commit()
        return seen
    finally:
        consumer.close()


def committed(bootstrap: str, group: str) -> dict[int, int]:
    """aiokafka's view of ``group``'s committed offsets."""

    async def offsets() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            found = await admin.list_consumer_group_offsets(group)
            return {tp.partition: meta.offset for tp, meta in found.items()}
        finally:
            await admin.close()

    return asyncio.run(offsets())


PRODUCERS = {"kafka-python": kafka_python_produce, "aiokafka": aiokafka_produce,
             "kcat": kcat_produce}  # fmt: skip
READERS = {"kafka-python": kafka_python_read, "aiokafka": aiokafka_read, "kcat": kcat_read}


def test_every_client_sees_the_replicated_topic_alike_and_writes_and_reads_through_any_broker(
    cluster_factory,
):
    cluster = cluster_factory(brokers=3)
    cluster.create_topic(TOPIC, assignment=ASSIGNMENT)
    every_client_sees(cluster, [0, 1, 2], expected({0: 0, 1: 1, 2: 2}, (0, 1, 2), ()))

    # Each client produces through one broker only (the leader of one partition of three).
    written = set()
    for through, (name, produce) in enumerate(PRODUCERS.items()):
        produce(cluster.node(through).bootstrap, name)
        written |= {f"{name}-{p}" for p in range(len(ASSIGNMENT))}
    # ... and each reads everything back through another one.
    for through, (name, read) in enumerate(READERS.items()):
        assert read(cluster.node((through + 1) % 3).bootstrap) == written, name

    # A consumer group found through broker 2 commits; its offsets read through broker 1.
    assert group_read(cluster.node(2).bootstrap, "g") == written
    ends = {p: 3 for p in range(len(ASSIGNMENT))}  # three clients wrote once to each
    assert committed(cluster.node(1).bootstrap, "g") == ends


def test_a_broker_down_is_listed_offline_and_its_leadership_has_moved(cluster_factory):
    cluster = cluster_factory(brokers=3)
    cluster.create_topic(TOPIC, assignment=ASSIGNMENT)
    cluster.kill(1)  # a crash: the controller fences it once its session runs out
    moved = cluster.wait_for_leader(TOPIC, 1, not_=1)
    assert moved in (0, 2)
    eventually(lambda: 1 not in cluster.isr(TOPIC, 1), "the dead broker left the ISR")
    every_client_sees(cluster, [0, 2], expected({0: 0, 1: moved, 2: 2}, (0, 2), (1,)))

    # Still written and read through the brokers that are up.
    kafka_python_produce(cluster.node(2).bootstrap, "after")
    assert {f"after-{p}" for p in range(len(ASSIGNMENT))} <= kcat_read(cluster.node(0).bootstrap)
