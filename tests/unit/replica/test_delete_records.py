"""The DeleteRecords handler on a leader whose ISR has a follower, on a manual clock: the log
start moves at once, the answer waits until the follower's fetch says its log starts there too
(Kafka's DelayedDeleteRecords), or answers REQUEST_TIMED_OUT at the request's timeout, or
NOT_LEADER_OR_FOLLOWER once the leadership is lost; the errors Kafka answers at once."""

from __future__ import annotations

import asyncio
from typing import Any

from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.net.handlers import delete_records
from broker.net.registry import Deferred
from broker.protocol.batch import validate_produced
from broker.protocol.codec import read_request
from broker.storage.manager import LOG_START_CHECKPOINT
from tests.support.batches import make_batch
from tests.support.wire import request_payload, response_header_and_body
from tests.unit.replica.test_produce_acks import FOLLOWER, leader_of_two_partitions

VERSION = 2
TIMEOUT_MS = 5_000


def delete_request(offsets: dict[tuple[str, int], int]) -> bytes:
    by_topic: dict[str, list[dict[str, int]]] = {}
    for (topic, index), offset in offsets.items():
        by_topic.setdefault(topic, []).append({"partition_index": index, "offset": offset})
    body = {
        "topics": [{"name": name, "partitions": parts} for name, parts in by_topic.items()],
        "timeout": TIMEOUT_MS,
    }
    return request_payload(21, VERSION, body, 1)


def answers(response: Any) -> dict[tuple[str, int], tuple[ErrorCode, int]]:
    """(error, low watermark) per partition, from an encoded frame or an answer given at once."""
    if isinstance(response, bytes):
        _, body = response_header_and_body(21, VERSION, response[4:])
        return {
            (topic.name, p.partition_index): (p.error_code, p.low_watermark)
            for topic in body.topics
            for p in topic.partitions
        }
    return {
        (topic["name"], p["partition_index"]): (p["error_code"], p["low_watermark"])
        for topic in response["topics"]
        for p in topic["partitions"]
    }


def filled(tmp_path, clock):
    """Both partitions hold offsets 0-3, replicated: high watermark 4, follower starts at 0."""
    context, replicas = leader_of_two_partitions(tmp_path, clock)
    for index in (0, 1):
        replica = replicas.replica("t", index)
        for _ in range(4):
            batch = make_batch([b"v"])
            replica.append(batch, validate_produced(batch), clock.now_ms())
        replica.update_follower(FOLLOWER, 4, 0)
        assert replica.high_watermark == 4
    return context, replicas


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_answer_waits_for_the_followers_log_start(tmp_path) -> None:
    clock = ManualClock(1_700_000_000_000)
    context, replicas = filled(tmp_path, clock)
    leader = replicas.replica("t", 0)

    async def scenario() -> bytes:
        wanted = {("t", 0): 3, ("t", 1): 5, ("nosuch", 0): 1, ("__consumer_offsets", 0): 0}
        deferred = await delete_records.handle(context, read_request(delete_request(wanted)))
        assert isinstance(deferred, Deferred)
        assert leader.log_start_offset == 3  # moved at once on the leader
        checkpoint = (tmp_path / LOG_START_CHECKPOINT).read_text()
        assert "t 0 3" in checkpoint  # written at once: a crash keeps it
        task = asyncio.ensure_future(deferred.answer)
        await settle()
        leader.update_follower(FOLLOWER, 4, 2)  # not there yet
        await settle()
        assert not task.done()
        leader.update_follower(FOLLOWER, 4, 3)
        await settle()
        assert task.done()
        return task.result()

    assert answers(asyncio.run(scenario())) == {
        ("t", 0): (ErrorCode.none, 3),
        ("t", 1): (ErrorCode.offset_out_of_range, -1),  # past the high watermark
        ("nosuch", 0): (ErrorCode.unknown_topic_or_partition, -1),
        ("__consumer_offsets", 0): (ErrorCode.invalid_topic_exception, -1),
    }
    assert clock.live_timers == 0
    replicas.close()


def test_a_follower_that_never_catches_up_times_the_request_out(tmp_path) -> None:
    clock = ManualClock(1_700_000_000_000)
    context, replicas = filled(tmp_path, clock)

    async def scenario() -> bytes:
        request = read_request(delete_request({("t", 0): -1, ("t", 1): 2}))
        deferred = await delete_records.handle(context, request)
        assert isinstance(deferred, Deferred)
        task = asyncio.ensure_future(deferred.answer)
        await settle()
        replicas.replica("t", 1).become_follower(FOLLOWER, 1)  # leadership lost
        await settle()
        assert not task.done()  # partition 0 still waits
        clock.advance(TIMEOUT_MS)
        return await task

    assert answers(asyncio.run(scenario())) == {
        ("t", 0): (ErrorCode.request_timed_out, 0),  # -1 meant the high watermark, 4
        ("t", 1): (ErrorCode.not_leader_or_follower, -1),
    }
    assert replicas.replica("t", 0).log_start_offset == 4
    replicas.close()


def test_a_leader_alone_in_its_isr_answers_at_once_and_a_compacted_topic_refuses(
    tmp_path,
) -> None:
    clock = ManualClock(1_700_000_000_000)
    context, replicas = filled(tmp_path, clock)
    replicas.replica("t", 0).isr = frozenset({0})
    compacted = replicas.replica("t", 1)
    compacted.log.update_config(compacted.log.config.__class__(cleanup_policy="compact"))
    request = read_request(delete_request({("t", 0): 2, ("t", 1): 2}))
    answer = asyncio.run(delete_records.handle(context, request))
    assert answers(answer) == {
        ("t", 0): (ErrorCode.none, 2),
        ("t", 1): (ErrorCode.policy_violation, -1),
    }
    assert compacted.log_start_offset == 0
    replicas.close()
