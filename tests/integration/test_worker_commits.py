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

from consumers.worker import COMMIT_INTERVAL_S, IDLE_CLOSE_S, Worker
from ingest.simulate import simulated_envelopes
from tests.support.waiting import eventually

START_MS = 1_795_615_200_000


def publish(bootstrap: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce("tweets", value)
    assert producer.flush(30) == 0


def committed(bootstrap: str, partition: int = 0) -> int:
    asker = Consumer({"bootstrap.servers": bootstrap, "group.id": "analytics-test"})
    try:
        return asker.committed([TopicPartition("tweets", partition)], timeout=10)[0].offset
    finally:
        asker.close()


def results_unackable(bootstrap: str, tweets_partitions: int) -> AdminClient:
    """``tweets`` and ``dlq``, and a ``stats`` topic no result can be acknowledged on yet (one
    replica, ``min.insync.replicas=2``) until ``let_results_be_acked``."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [
        NewTopic("tweets", tweets_partitions, 1),
        NewTopic("stats", 1, 1, config={"min.insync.replicas": "2"}),
        NewTopic("dlq", 1, 1),
    ]
    for future in admin.create_topics(topics).values():
        future.result(timeout=30)
    return admin


def let_results_be_acked(admin: AdminClient) -> None:
    entry = ConfigEntry("min.insync.replicas", "1", incremental_operation=AlterConfigOpType.SET)
    altered = admin.incremental_alter_configs(
        [ConfigResource("topic", "stats", incremental_configs=[entry])]
    )
    for future in altered.values():
        future.result(timeout=30)


def test_a_worker_reads_on_while_results_are_unacknowledged_and_commits_only_after(broker):
    bootstrap = broker.bootstrap
    admin = results_unackable(bootstrap, 1)
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

        let_results_be_acked(admin)
        # The results' retries now succeed; the commit that follows is a run start.
        eventually(lambda: committed(bootstrap) > 0, "a commit once the results are acked")
    finally:
        worker.running = False
        thread.join(60)
    assert not thread.is_alive()
    assert worker.undelivered is None


def test_an_idle_close_waiting_for_acks_does_not_stop_the_other_partitions(broker):
    """Partition 1 goes idle while no result can be acknowledged: its close waits for the acks
    and its commit, but partition 0 is read on meanwhile; records reaching partition 1 before
    the commit call the close off; once the results are acknowledged partition 1 goes idle
    again and its close completes: committed at its end."""
    bootstrap = broker.bootstrap
    admin = results_unackable(bootstrap, 2)
    tweets = [e.raw for e in itertools.islice(simulated_envelopes(4, START_MS, 50.0), 300)]
    producer = Producer({"bootstrap.servers": bootstrap})
    for k, value in enumerate(tweets[:200]):
        producer.produce("tweets", value, partition=k % 2)
    assert producer.flush(30) == 0
    worker = Worker(
        0, bootstrap, "analytics-test", "tweets", "stats", "dlq", {"message.timeout.ms": "120000"}
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: worker.processed == 200, "the first tweets read")
        # Partition 0 gets a record every 40 ms for 4 s; partition 1 none, so it goes idle.
        for value in tweets[200:]:
            producer.produce("tweets", value, partition=0)
            producer.flush(30)
            time.sleep((IDLE_CLOSE_S + 2 * COMMIT_INTERVAL_S) / 100)
        assert 1 in worker.closing  # its close waits for the acks
        eventually(lambda: worker.processed == 300, "partition 0 read on", timeout=10)
        # Records for partition 1 before its close is committed: the run goes on instead.
        for value in tweets[200:210]:
            producer.produce("tweets", value, partition=1)
        assert producer.flush(30) == 0
        eventually(lambda: worker.processed == 310, "partition 1 read on", timeout=10)
        assert 1 not in worker.closing

        let_results_be_acked(admin)
        eventually(lambda: committed(bootstrap, 1) == 110, "partition 1 committed at its end")
        eventually(lambda: worker.builders[1].open_run is None, "partition 1's run closed")
    finally:
        worker.running = False
        thread.join(60)
    assert not thread.is_alive()
    assert worker.undelivered is None
