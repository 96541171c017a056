"""A worker keeps reading while its results wait for acks: run starts are marked, and a mark
is committed only once every result sent before it is acknowledged."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from chirpstream.kafka import ensure_topic
from consumers.runs import RunBuilder
from consumers.worker import Worker
from tests.unit.consumers.support import envelope


def test_a_mark_is_committed_only_once_the_results_before_it_are_acknowledged(broker_factory):
    broker = broker_factory()
    ensure_topic(broker.bootstrap, "tweets", 1)
    worker = Worker(0, broker.bootstrap, "marks", "tweets", "tweet-stats", "tweets-dlq", {})
    try:
        builder = worker.builders[0] = RunBuilder(0, 40)
        builder.feed(40, envelope("one"))
        builder.feed(41, envelope("two"))
        worker._mark()  # publishes the open run [40, 41] and marks its start, without waiting
        assert worker.marks == [(1, [TopicPartition("tweets", 0, 40)])]
        assert worker.unacknowledged == {1}
        worker._commit_acknowledged_mark()  # not acknowledged yet: nothing committed
        assert (
            worker.marks
            and worker.consumer.committed([TopicPartition("tweets", 0)], timeout=10)[0].offset < 0
        )
        assert worker.producer.flush(30) == 0
        worker._commit_acknowledged_mark()
        assert worker.marks == []
        committed = worker.consumer.committed([TopicPartition("tweets", 0)], timeout=10)
        assert committed[0].offset == 40
    finally:
        worker.consumer.close()
