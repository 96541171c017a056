"""Fetch and ListOffsets details Kafka has, through the real handlers on a leader whose ISR
has a follower (manual clock), with requests and answers in kio's encoding:

- Fetch v15+ names its follower in ``replica_state`` (KIP-903), v4-v14 in ``replica_id``; from
  v13 topics are named by id (an unknown id: UNKNOWN_TOPIC_ID);
- a replica fetch from a broker that is not one of the partition's replicas is refused
  (``Partition.followerReplicaOrThrow``): UNKNOWN_LEADER_EPOCH when it names the current leader
  epoch, NOT_LEADER_OR_FOLLOWER when it names none;
- ListOffsets on a new leader whose high watermark is still behind the start of its leader
  epoch answers OFFSET_NOT_AVAILABLE for latest (LEADER_NOT_AVAILABLE before v5) and serves
  earliest (KIP-207, ``Partition.fetchOffsetForTimestamp``); a consumer never gets an offset
  at or past the high watermark from a lookup by time."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.net.context import Context
from broker.net.handlers import fetch, list_offsets
from broker.protocol.batch import validate_produced
from broker.protocol.codec import (
    encode_response,
    read_request,
)
from broker.replica.manager import ReplicaManager
from broker.replica.replica import Replica
from tests.support.batches import make_batch
from tests.support.wire import request_payload, response_header_and_body
from tests.unit.replica.test_produce_acks import FOLLOWER, ME, TOPIC_ID, leader_of_two_partitions

NOW_MS = 1_700_000_000_000
STRANGER = 7  # a broker that holds no replica of t


@pytest.fixture
def leader(tmp_path: Path) -> Any:
    context, replicas = leader_of_two_partitions(tmp_path, ManualClock(NOW_MS))
    yield context, replicas
    replicas.close()


def fetch_body(
    version: int, offset: int, *, replica: int = -1, leader_epoch: int = -1, topic: Any = "t"
) -> dict[str, Any]:
    named = {"topic_id": topic} if version >= 13 else {"topic": topic}
    body: dict[str, Any] = {
        "max_wait": datetime.timedelta(0),
        "min_bytes": 0,
        "max_bytes": 1 << 20,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [
            {
                **named,
                "partitions": [
                    {
                        "partition": 0,
                        "current_leader_epoch": leader_epoch,
                        "fetch_offset": offset,
                        "last_fetched_epoch": -1,
                        "log_start_offset": -1,
                        "partition_max_bytes": 1 << 20,
                    }
                ],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    if version >= 15:
        body["replica_state"] = {"replica_id": replica, "replica_epoch": -1}
    else:
        body["replica_id"] = replica
    return body


def fetched(context: Context, version: int, body: dict[str, Any]) -> Any:
    """The one partition answer of a Fetch, and the topic it was named by."""
    parts = asyncio.run(fetch.handle(context, read_request(request_payload(1, version, body))))
    frame = b"".join(part if isinstance(part, bytes) else part.read_bytes() for part in parts)
    topic = response_header_and_body(1, version, frame[4:])[1].responses[0]
    return topic, topic.partitions[0]


def write(replica: Replica, count: int) -> None:
    """``count`` one-record batches, the one at offset n stamped NOW_MS + n."""
    for value in range(count):
        batch = make_batch([b"%d" % value], timestamp=NOW_MS + value)
        replica.append(batch, validate_produced(batch), NOW_MS)


def partition_t0(replicas: ReplicaManager) -> Replica:
    replica = replicas.replica("t", 0)
    assert replica is not None
    return replica


@pytest.mark.parametrize("version", [12, 15])
def test_a_follower_fetch_is_known_by_the_id_its_version_carries(leader, version) -> None:
    context, replicas = leader
    replica = partition_t0(replicas)
    write(replica, 2)
    assert replica.high_watermark == 0  # the follower has not fetched yet
    topic = TOPIC_ID if version >= 13 else "t"
    _, answer = fetched(context, version, fetch_body(version, 2, replica=FOLLOWER, topic=topic))
    assert answer.error_code == ErrorCode.none
    assert replica.high_watermark == 2  # the leader took the fetch as the follower's


@pytest.mark.parametrize("version", [12, 15])
@pytest.mark.parametrize(
    ("leader_epoch", "error"),
    [(0, ErrorCode.unknown_leader_epoch), (-1, ErrorCode.not_leader_or_follower)],
)
def test_a_replica_fetch_from_a_broker_outside_the_replica_set_is_refused(
    leader, version, leader_epoch, error
) -> None:
    context, replicas = leader
    replica = partition_t0(replicas)
    write(replica, 2)
    topic = TOPIC_ID if version >= 13 else "t"
    body = fetch_body(version, 0, replica=STRANGER, leader_epoch=leader_epoch, topic=topic)
    _, answer = fetched(context, version, body)
    assert answer.error_code == error
    assert not answer.records  # nothing past the high watermark leaves the leader
    assert STRANGER not in replica.followers


def test_a_consumer_fetch_from_v13_names_topics_by_id(leader) -> None:
    context, replicas = leader
    replica = partition_t0(replicas)
    write(replica, 1)
    replica.update_follower(FOLLOWER, 1)  # replicated: the high watermark is 1
    topic, answer = fetched(context, 13, fetch_body(13, 0, topic=TOPIC_ID))
    assert topic.topic_id == TOPIC_ID
    assert (answer.error_code, answer.high_watermark) == (ErrorCode.none, 1)
    assert validate_produced(answer.records)[0].base_offset == 0
    unknown = uuid.UUID(int=99)
    topic, answer = fetched(context, 13, fetch_body(13, 0, topic=unknown))
    assert (topic.topic_id, answer.error_code) == (unknown, ErrorCode.unknown_topic_id)


def list_offsets_answer(context: Context, version: int, timestamp: int) -> Any:
    body = {
        "replica_id": -1,
        "isolation_level": 0,
        "topics": [
            {
                "name": "t",
                "partitions": [
                    {"partition_index": 0, "current_leader_epoch": -1, "timestamp": timestamp}
                ],
            }
        ],
    }
    request = read_request(request_payload(2, version, body))
    answer = asyncio.run(list_offsets.handle(context, request))
    frame = encode_response(2, version, 1, answer)
    return response_header_and_body(2, version, frame[4:])[1].topics[0].partitions[0]


def test_a_new_leader_behind_its_epoch_start_has_no_latest_offset_yet(leader) -> None:
    context, replicas = leader
    replica = partition_t0(replicas)
    write(replica, 2)  # not replicated: the high watermark stays 0
    replica.become_leader(1, frozenset({ME, FOLLOWER}), 1, (ME, FOLLOWER))  # epoch 1 at 2
    assert (replica.high_watermark, replica.leader_epoch_start_offset) == (0, 2)

    latest = list_offsets_answer(context, 7, list_offsets.LATEST)
    assert latest.error_code == ErrorCode.offset_not_available
    assert list_offsets_answer(context, 4, list_offsets.LATEST).error_code == (
        ErrorCode.leader_not_available
    )
    by_time = list_offsets_answer(context, 7, NOW_MS)  # found at 0, past the high watermark
    assert by_time.error_code == ErrorCode.offset_not_available
    earliest = list_offsets_answer(context, 7, list_offsets.EARLIEST)
    assert (earliest.error_code, earliest.offset) == (ErrorCode.none, 0)

    replica.update_follower(FOLLOWER, 2)  # the ISR caught up with the epoch's start
    latest = list_offsets_answer(context, 7, list_offsets.LATEST)
    assert (latest.error_code, latest.offset, latest.leader_epoch) == (ErrorCode.none, 2, 1)
    by_time = list_offsets_answer(context, 7, NOW_MS)
    assert (by_time.error_code, by_time.offset) == (ErrorCode.none, 0)


def test_a_lookup_by_time_never_answers_past_the_high_watermark(leader) -> None:
    context, replicas = leader
    replica = partition_t0(replicas)
    write(replica, 2)
    replica.update_follower(FOLLOWER, 1)  # offset 0 replicated, 1 not yet
    found = list_offsets_answer(context, 7, list_offsets.MAX_TIMESTAMP)
    assert (found.error_code, found.offset) == (ErrorCode.none, -1)  # its record is at 1
    found = list_offsets_answer(context, 7, NOW_MS + 1)
    assert (found.error_code, found.offset) == (ErrorCode.none, -1)
    found = list_offsets_answer(context, 7, NOW_MS)
    assert (found.error_code, found.offset) == (ErrorCode.none, 0)


def test_a_held_follower_fetch_updates_the_followers_state_once_as_it_arrives(leader) -> None:
    # As Kafka's DelayedFetch: the logs are read again when the hold ends, but the follower's
    # fetch state is what its request said when it came, not renewed at the end of the hold.
    context, replicas = leader
    replica = partition_t0(replicas)
    body = fetch_body(12, 0, replica=FOLLOWER) | {
        "max_wait": datetime.timedelta(milliseconds=50),
        "min_bytes": 1,
    }

    fetched(context, 12, fetch_body(12, 0, replica=FOLLOWER))  # told the high watermark

    async def held_fetch() -> None:
        answering = asyncio.ensure_future(
            fetch.handle(context, read_request(request_payload(1, 12, body)))
        )
        await asyncio.sleep(0.01)
        assert not answering.done()  # held: nothing to read
        context.clock.advance(10_000)
        await answering

    asyncio.run(held_fetch())
    assert replica.followers[FOLLOWER].last_fetch_ms == NOW_MS
