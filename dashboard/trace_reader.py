"""The records a tweet trace follows, read from Kafka with the dashboard's reader
(``dashboard.clients.reader``: assigned partitions only, never a group, never a commit).

- ``read_tweet``: one record of ``tweets`` by partition and offset: its key, timestamp (and
  whether the topic stamps the producer's time, CreateTime, or the leader's append time,
  LogAppendTime) and text.
- ``find_results``: the ``tweet-stats`` results that cover a tweet's offset. A worker publishes
  one result per run of a source partition, partial ones while the run grows and a final one
  when it closes (``consumers.runs``); the search starts at the first result produced
  ``SKEW_MS`` before the tweet or later (ListOffsets by timestamp; the worker's clock and the
  producer's may differ) and stops once a result of the same partition
  starts after the tweet (its run closed), at the end of the topic, or after ``max_records``.
  It returns the first result that covered the tweet (when it was first counted) and the
  longest one (the one ``consumers.fold`` keeps: it counts the tweet in the totals). Each
  result carries the worker's ``member.id`` and ``read.ms`` headers (``consumers.worker``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Message, TopicPartition

from chirpstream.settings import STATS_TOPIC, TWEETS_TOPIC
from dashboard import clients

MEMBER_HEADER = "member.id"
READ_HEADER = "read.ms"
MAX_RESULTS = 20_000  # results read at most per search
SKEW_MS = 10_000  # the search starts this long before the tweet: the hosts' clocks may differ


@dataclass(frozen=True)
class TweetRecord:
    partition: int
    offset: int
    key: str | None
    timestamp_ms: int
    log_append_time: bool  # the timestamp is the leader's append time, not the producer's
    text: str


@dataclass(frozen=True)
class ResultRecord:
    stats_offset: int  # where the result is in tweet-stats (partition 0)
    partition: int  # the source partition of tweets it covers
    first_offset: int
    last_offset: int
    tweets: int
    produced_ms: int  # the result's record timestamp: when the worker produced it
    member_id: str | None  # the member.id header
    read_ms: int | None  # the read.ms header: when the worker read the result's last record

    def covers(self, partition: int, offset: int) -> bool:
        return self.partition == partition and self.first_offset <= offset <= self.last_offset


@dataclass(frozen=True)
class Results:
    """The results found for one tweet: ``first`` covered it first, ``counted`` is the
    longest (None: none yet); ``closed``: a later run of its partition was seen, so no longer
    result will come."""

    first: ResultRecord | None
    counted: ResultRecord | None
    closed: bool
    searched: int  # results read


def read_tweet(
    config: Mapping[str, Any], partition: int, offset: int, timeout_s: float = 3.0
) -> TweetRecord | None:
    """The record of ``tweets`` at ``partition``/``offset``, or None when the partition does
    not hold it (deleted by retention, or not written yet)."""
    reader = clients.reader(config)
    try:
        reader.assign([TopicPartition(TWEETS_TOPIC, partition, offset)])
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = reader.poll(left)
            if message is None:
                break
            if message.error() is not None:
                if message.error().fatal() or not message.error().retriable():
                    return None
                continue
            return _tweet(message) if message.offset() == offset else None
        return None
    finally:
        reader.close()


def find_results(
    config: Mapping[str, Any],
    partition: int,
    offset: int,
    since_ms: int,
    timeout_s: float = 3.0,
    max_records: int = MAX_RESULTS,
) -> Results:
    """The results covering ``tweets`` ``partition``/``offset``, searched from the first
    result produced ``SKEW_MS`` before ``since_ms`` (the tweet's timestamp) or later. Raises
    KafkaException when ``tweet-stats`` cannot be read."""
    reader = clients.reader(config)
    first = counted = None
    closed, searched = False, 0
    try:
        stats = TopicPartition(STATS_TOPIC, 0, since_ms - SKEW_MS)
        start = reader.offsets_for_times([stats], timeout=timeout_s)[0].offset
        end = reader.get_watermark_offsets(TopicPartition(STATS_TOPIC, 0), timeout=timeout_s)[1]
        if start < 0 or start >= end:  # nothing produced since the tweet
            return Results(None, None, False, 0)
        reader.assign([TopicPartition(STATS_TOPIC, 0, start)])
        deadline = time.monotonic() + timeout_s
        position = start
        while position < end and searched < max_records and not closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # consume waits for as many records as it asks for: never more than are left.
            wanted = min(1000, max_records - searched, end - position)
            for message in reader.consume(wanted, timeout=left):
                if message.error() is not None:
                    continue
                position, searched = message.offset() + 1, searched + 1
                result = _result(message)
                if result is None or result.partition != partition:
                    continue
                if result.first_offset > offset:
                    closed = True
                    break
                if result.covers(partition, offset):
                    first = first or result
                    if counted is None or result.last_offset > counted.last_offset:
                        counted = result
        return Results(first, counted, closed, searched)
    finally:
        reader.close()


def _tweet(message: Message) -> TweetRecord:
    kind, stamp = message.timestamp()
    value = message.value() or b""
    try:
        text = str(json.loads(value)["data"]["text"])
    except (ValueError, KeyError, TypeError):
        text = value[:280].decode(errors="replace")
    key = message.key()
    return TweetRecord(
        message.partition(),
        message.offset(),
        None if key is None else key.decode(errors="replace"),
        stamp,
        kind == TIMESTAMP_LOG_APPEND_TIME,
        text,
    )


def _result(message: Message) -> ResultRecord | None:
    """A v1 run result's range and trace headers; None for anything else."""
    try:
        result = json.loads(message.value() or b"null")
        headers = {name: value for name, value in message.headers() or ()}
        read = headers.get(READ_HEADER)
        member = headers.get(MEMBER_HEADER)
        return ResultRecord(
            message.offset(),
            int(result["partition"]),
            int(result["first_offset"]),
            int(result["last_offset"]),
            int(result["tweets"]),
            message.timestamp()[1],
            None if not member else member.decode(errors="replace"),
            None if read is None else int(read),
        )
    except (ValueError, KeyError, TypeError):
        return None
