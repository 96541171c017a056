"""A worker keeps reading while its results wait for the broker's acks, and commits nothing
until they are acknowledged (``consumers.commits``), against a real broker: the results topic
needs two in-sync replicas of a single node, so every acks=all result is refused with
NOT_ENOUGH_REPLICAS and retried, until the topic is altered to need one."""

from __future__ import annotations

import itertools
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from consumers.worker import COMMIT_INTERVAL_S, Worker
from ingest.simulate import simulated_envelopes
from tests.support.waiting import eventually

START_MS = 1_795_615_200_000


def publish(bootstrap: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce("tweets", value)
    assert producer.flush(30) == 0


def committed(bootstrap: str) -> int:
    asker = Consumer({"bootstrap.servers": bootstrap, "group.id": "analytics-test"})
    try:
        return asker.committed([TopicPartition("tweets", 0)], timeout=10)[0].offset
    finally:
        asker.close()


def test_a_worker_reads_on_while_results_are_unacknowledged_and_commits_only_after(broker):
    bootstrap = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [
        NewTopic("tweets", 1, 1),
        NewTopic("stats", 1, 1, config={"min.insync.replicas": "2"}),
        NewTopic("dlq", 1, 1),
    ]
    for future in admin.create_topics(topics).values():
        future.result(timeout=30)
    tweets = [e.raw for e in itertools.islice(simulated_envelopes(3, START_MS, 50.0), 400)]
    publish(bootstrap, tweets[:200])
    worker = Worker(
        0, bootstrap, "analytics-test", "tweets", "stats", "dlq", {"message.timeout.ms": "120000"}
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: worker.processed == 200, "the first tweets read")
        time.sleep(COMMIT_INTERVAL_S * 1.5)  # a commit is due: its results are not acked
        publish(bootstrap, tweets[200:])
        eventually(lambda: worker.processed == 400, "the tweets after it read", timeout=20)
        assert committed(bootstrap) < 0  # nothing: no result has been acknowledged

        entry = ConfigEntry("min.insync.replicas", "1", incremental_operation=AlterConfigOpType.SET)
        altered = admin.incremental_alter_configs(
            [ConfigResource("topic", "stats", incremental_configs=[entry])]
        )
        for future in altered.values():
            future.result(timeout=30)
        # The results' retries now succeed; the commit that follows is a run start.
        eventually(lambda: committed(bootstrap) > 0, "a commit once the results are acked")
    finally:
        worker.running = False
        thread.join(60)
    assert not thread.is_alive()
    assert worker.undelivered is None
