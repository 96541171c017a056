"""Issue 19 item 3 end to end: a tweet sent the way the Produce page sends it, through a real
broker and two real analytics workers, traced by the dashboard (its collector's samples, its
reader of the tweet and of ``tweet-stats``) to the right partition, offset, member and result
record, each checked against what Kafka itself says."""

from __future__ import annotations

import json
import subprocess
import time

from confluent_kafka import Consumer, TopicPartition

from chirpstream.kafka import ensure_topic
from chirpstream.settings import ANALYTICS_GROUP, STATS_TOPIC, TWEETS_TOPIC
from dashboard import trace, trace_reader
from dashboard.collector import Collector
from dashboard.produce import send
from dashboard.store import Store
from tests.support.broker_process import ROOT
from tests.support.commands import service
from tests.support.group_reads import described_group

GROUP_BROKER = {"group.min.session.timeout.ms": "1000"}
FAST_WORKER = ["-X", "session.timeout.ms=2000", "-X", "heartbeat.interval.ms=300"]


def owners(bootstrap: str) -> dict[int, str]:
    """Partition of ``tweets`` -> the member of ``analytics`` that owns it, as DescribeGroups
    says now."""
    group = described_group(bootstrap, ANALYTICS_GROUP)
    return {
        partition: member.member_id
        for member in group.members
        for topic, partition in member.assignment
        if topic == TWEETS_TOPIC
    }


def result_at(bootstrap: str, offset: int) -> tuple[dict, dict[str, bytes]]:
    """The ``tweet-stats`` record at ``offset``, read by a plain consumer: value, headers."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "trace-check"})
    try:
        consumer.assign([TopicPartition(STATS_TOPIC, 0, offset)])
        message = consumer.poll(10)
        assert message is not None and message.error() is None and message.offset() == offset
        return json.loads(message.value()), dict(message.headers() or ())
    finally:
        consumer.close()


def test_a_tweet_is_traced_to_its_partition_offset_member_and_result(broker_factory, tmp_path):
    broker = broker_factory(config=GROUP_BROKER)
    bootstrap = broker.bootstrap
    ensure_topic(bootstrap, TWEETS_TOPIC, 6)
    logs = [(tmp_path / f"worker-{i}.log").open("w") for i in range(2)]
    workers = [
        subprocess.Popen(
            service("consumers.worker", bootstrap, "--id", str(i), *FAST_WORKER),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for i, log in enumerate(logs)
    ]
    collector = Collector(bootstrap, Store(tmp_path / "dashboard.sqlite"))
    try:
        deadline = time.monotonic() + 30
        while len(set(owned := owners(bootstrap))) < 2 or len(owned) < 6:  # both own partitions
            assert time.monotonic() < deadline, f"the group did not settle: {owned}"
            time.sleep(0.3)
        sent = [send(bootstrap, author, f"tweet by {author} #kafka") for author in ("ada", "bo")]
        partition, offset = sent[-1]
        config = {"bootstrap.servers": bootstrap}
        tweet = trace_reader.read_tweet(config, partition, offset)
        assert tweet is not None and tweet.key == "bo" and tweet.text == "tweet by bo #kafka"
        while True:  # until the worker has committed past it (its run closes when idle, 2 s)
            assert collector.sample_once(drain_s=0.0)
            results = trace_reader.find_results(config, partition, offset, tweet.timestamp_ms)
            traced = trace.follow(collector.store, tweet, results)
            if traced.hop(trace.OFFSET_COMMITTED).at_ms is not None:
                break
            assert time.monotonic() < deadline + 30, traced.table().to_string()
            time.sleep(0.5)
        owner = owners(bootstrap)[partition]
    finally:
        collector.close()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
        for log in logs:
            log.close()

    assert (traced.tweet.partition, traced.tweet.offset) == (partition, offset)
    assert traced.member_id == owner  # the member DescribeGroups names for the partition
    assert traced.client_id is not None and traced.client_id.startswith("analytics-")
    counted = results.counted
    assert counted is not None and counted.covers(partition, offset)
    value, headers = result_at(bootstrap, counted.stats_offset)  # the record itself
    assert (value["partition"], value["first_offset"]) == (partition, counted.first_offset)
    assert value["first_offset"] <= offset <= value["last_offset"]
    assert headers["member.id"].decode() == owner
    times = {hop.hop: hop.at_ms for hop in traced.hops}
    assert all(at is not None for at in times.values()), traced.table().to_string()
    assert times[trace.PRODUCED] <= times[trace.READ] <= times[trace.RESULT]
    assert times[trace.RESULT] <= times[trace.OFFSET_COMMITTED]
    assert traced.replicas["replica"].tolist() == [0]
    assert traced.replicas["holds_since_ms"].notna().all()
