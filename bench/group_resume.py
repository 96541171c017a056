"""Group resume time: how long a consumer group stands still after the broker coordinating it
is SIGKILLed, on three bundled nodes with the bundled defaults (``chirpstream cluster
--brokers 3``: node 0 is also the single controller).

A member reads a 3-partition RF 3 topic that a producer writes to every 5 ms, and commits
synchronously after each batch, as the analytics workers do. Its group is chosen so that the
coordinator (the leader of the group's ``__consumer_offsets`` partition) is node 1 or 2, and
the topic's partitions are led by node 0: the kill takes down the coordinator only, so the
figure is the group's and not a partition leader's failover (``bench.failover`` has that).
The figure is the time from the kill until the first commit the member sent after it is
acknowledged: until then a worker that commits after every batch does not read on. Also
shown: when the new coordinator was named (FindCoordinator, the broker side of that time),
and whether the member had to rejoin (a new assignment after the kill).

Measured with the clients' default session timeouts (confluent-kafka 45 s, kafka-python 10 s)
and with ``session.timeout.ms=6000``, over ``--runs`` runs each (median and max); the victim is
restarted and back in the ISR before the next run.

Run with ``python -m bench.group_resume``; ``make bench`` runs it.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.errors import KafkaError as KafkaPythonError
from kafka.structs import OffsetAndMetadata
from kio.schema.errors import ErrorCode

from broker.groups.store import OFFSETS_TOPIC, partition_for
from tests.support.cluster import Cluster
from tests.support.waiting import eventually
from tests.support.wire import WireClient

TOPIC = "resume"
PARTITIONS = 3
WRITE_EVERY_S = 0.005
CONTROLLER = 0  # never killed: the cluster's only controller
OFFSETS_PARTITIONS = 50  # offsets.topic.num.partitions, the bundled default
CLIENTS = ("confluent-kafka", "kafka-python")
SETTINGS: dict[str, int | None] = {"default": None, "6000": 6000}  # session.timeout.ms


class Member(threading.Thread):
    """One group member: polls, commits each batch synchronously, and notes when each
    commit was acknowledged and when it got a new assignment."""

    def __init__(self, poll: Callable[[], dict[int, int]], commit, assigned, close) -> None:
        super().__init__(daemon=True)
        self._poll, self._commit, self._assigned, self._close = poll, commit, assigned, close
        self.stopping = threading.Event()
        self.commits: list[tuple[float, float]] = []  # each acknowledged commit: sent, answered
        self.assignments: list[float] = []  # when the assignment changed

    def run(self) -> None:
        owned: set[int] = set()
        try:
            while not self.stopping.is_set():
                batch = self._poll()
                if (now := self._assigned()) != owned:
                    owned = now
                    self.assignments.append(time.monotonic())
                sent = time.monotonic()
                if batch and self._commit(batch):
                    self.commits.append((sent, time.monotonic()))
        finally:
            self._close()

    def committing(self) -> bool:
        return bool(self.commits)


def confluent_member(bootstrap: str, group: str, session_ms: int | None) -> Member:
    config = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    config |= {"auto.offset.reset": "latest", "log_level": 0}
    if session_ms is not None:
        config["session.timeout.ms"] = session_ms
    consumer = Consumer(config)
    consumer.subscribe([TOPIC])

    def poll() -> dict[int, int]:
        messages = consumer.consume(500, timeout=0.05)
        return {m.partition(): m.offset() + 1 for m in messages if m.error() is None}

    def commit(offsets: dict[int, int]) -> bool:
        try:
            consumer.commit(
                offsets=[TopicPartition(TOPIC, p, o) for p, o in offsets.items()],
                asynchronous=False,
            )
        except KafkaException:
            return False
        return True

    return Member(
        poll, commit, lambda: {tp.partition for tp in consumer.assignment()}, consumer.close
    )


def kafka_python_member(bootstrap: str, group: str, session_ms: int | None) -> Member:
    options: dict[str, object] = {"session_timeout_ms": session_ms} if session_ms else {}
    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        **options,
    )

    def poll() -> dict[int, int]:
        batches = consumer.poll(timeout_ms=50, max_records=500)
        return {tp.partition: records[-1].offset + 1 for tp, records in batches.items() if records}

    def commit(offsets: dict[int, int]) -> bool:
        wanted = {
            KafkaTopicPartition(TOPIC, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()
        }
        try:
            consumer.commit(wanted)
        except KafkaPythonError:
            return False
        return True

    return Member(
        poll,
        commit,
        lambda: {tp.partition for tp in consumer.assignment()},
        lambda: consumer.close(autocommit=False),
    )


MEMBERS = {"confluent-kafka": confluent_member, "kafka-python": kafka_python_member}


class Writer(threading.Thread):
    """A producer writing one small record every ``WRITE_EVERY_S``, round the partitions."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        self.stopping = threading.Event()

    def run(self) -> None:
        for n in itertools.count():
            if self.stopping.is_set():
                break
            self._producer.produce(TOPIC, b"x", partition=n % PARTITIONS)
            self._producer.poll(WRITE_EVERY_S)
        self._producer.flush(10)


def coordinator(cluster: Cluster, group: str) -> int:
    """The coordinator of ``group`` as the controller's node names it (-1: none yet)."""
    with WireClient(cluster.node(CONTROLLER).port, timeout=5.0) as client:
        answer = client.request(10, 3, {"key": group, "key_type": 0})
    return int(answer.node_id) if answer.error_code == ErrorCode.none else -1


def group_away_from_the_controller(cluster: Cluster, run: int) -> tuple[str, int]:
    """A new group id whose coordinator is not the controller's node, and that coordinator."""
    for n in itertools.count():
        group = f"resume-{run}-{n}"
        found = eventually(lambda g=group: coordinator(cluster, g) + 1, "a coordinator") - 1
        if found != CONTROLLER:
            return group, found
    raise AssertionError("unreachable")


def fully_replicated(cluster: Cluster, group: str) -> bool:
    """Whether every replica is in the ISR of the topic and of ``group``'s offsets partition."""
    offsets = (OFFSETS_TOPIC, partition_for(group, OFFSETS_PARTITIONS))
    wanted = [offsets, *((TOPIC, p) for p in range(PARTITIONS))]
    return all(len(cluster.isr(topic, p)) == 3 for topic, p in wanted)


def one_run(
    cluster: Cluster, client: str, session_ms: int | None, run: int
) -> tuple[float, float, bool]:
    """(seconds from the kill until a new coordinator is named, and until the first commit
    sent after it is acknowledged; whether the member got a new assignment after the
    kill)."""
    group, victim = group_away_from_the_controller(cluster, run)
    member = MEMBERS[client](cluster.bootstrap, group, session_ms)
    member.start()
    try:
        eventually(member.committing, f"{client} committing", timeout=60)
        eventually(lambda: fully_replicated(cluster, group), "every replica in the ISR", 60)
        killed_at = time.monotonic()
        cluster.kill(victim)
        eventually(lambda: coordinator(cluster, group) not in (-1, victim), "a new coordinator")
        named = time.monotonic() - killed_at
        # A commit answered just after the kill may have been answered by the victim: the
        # first commit sent after the kill is the first the new coordinator answered.
        eventually(
            lambda: any(sent > killed_at for sent, _ in member.commits), "a commit after it", 120
        )
        resumed = min(done for sent, done in member.commits if sent > killed_at) - killed_at
        rejoined = any(t > killed_at for t in member.assignments)
    finally:
        member.stopping.set()
        member.join(30)
    cluster.start_node(victim)
    return named, resumed, rejoined


def summary(seconds: tuple[float, ...]) -> str:
    listed = ", ".join(f"{s:.2f}" for s in seconds)
    return f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s ({listed})"


def main(runs: int) -> None:
    print(
        f"group resume after its coordinator's broker is SIGKILLed, 3 bundled nodes, "
        f"{runs} run(s) each",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="chirpstream-group-resume-") as folder:
        # The bundled offsets.topic.num.partitions (the test harness uses 1), so that
        # groups are spread over the brokers as they are by `chirpstream cluster`.
        config = {"offsets.topic.num.partitions": str(OFFSETS_PARTITIONS)}
        cluster = Cluster(Path(folder) / "resume", 3, 1, config)
        writer = Writer(cluster.bootstrap)
        try:
            cluster.start()
            cluster.create_topic(TOPIC, assignment=[[0, 1, 2]] * PARTITIONS)
            writer.start()
            run = itertools.count()
            for client, (label, session_ms) in itertools.product(CLIENTS, SETTINGS.items()):
                results = [one_run(cluster, client, session_ms, next(run)) for _ in range(runs)]
                named, resumed, rejoined = zip(*results, strict=True)
                print(
                    f"{client}, session.timeout.ms={label}: new coordinator named "
                    f"{summary(named)}; first commit after the kill {summary(resumed)}; "
                    f"rejoined in {sum(rejoined)} of {runs}",
                    flush=True,
                )
        finally:
            writer.stopping.set()
            if writer.is_alive():
                writer.join(30)
            cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.group_resume")
    parser.add_argument("--runs", type=int, default=5, help="runs per client and setting")
    main(parser.parse_args().runs)
