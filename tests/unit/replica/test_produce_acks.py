"""The Produce handler with acks=all on a leader whose ISR has a follower, on a manual clock:
each partition is answered once its batch is replicated, those still waiting at the request's
timeout answer REQUEST_TIMED_OUT (keeping their base offset, as Kafka), and acks=1 is
answered right after the append."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.config import BrokerConfig
from broker.metadata.cache import MetadataCache
from broker.metadata.image import MetadataImage
from broker.metadata.records import PartitionRecord, TopicRecord
from broker.net.context import Context
from broker.net.handlers import produce
from broker.net.registry import Deferred
from broker.protocol.codec import read_request
from broker.replica.manager import ReplicaManager
from broker.storage import LogConfig
from broker.storage.manager import LogManager
from tests.support.batches import make_batch
from tests.support.wire import request_payload, response_header_and_body

ME, FOLLOWER = 0, 1
TOPIC_ID = uuid.UUID(int=3)
TIMEOUT_MS = 5_000
VERSION = 9


def leader_of_two_partitions(root: Path, clock: ManualClock) -> tuple[Context, ReplicaManager]:
    image = MetadataImage().apply_all(
        [
            TopicRecord("t", TOPIC_ID),
            *(PartitionRecord(i, TOPIC_ID, (ME, FOLLOWER), (ME, FOLLOWER), ME) for i in (0, 1)),
        ]
    )
    replicas = ReplicaManager(LogManager(root), ME, LogConfig(), clock=clock)
    replicas.load(image, frozenset())
    replicas.apply(MetadataImage(), image)
    context = Context(
        config=BrokerConfig(),
        clock=clock,
        metadata=MetadataCache("cluster", image),
        replicas=replicas,
        controller=None,  # type: ignore[arg-type]  # Produce asks no controller
        groups=None,  # type: ignore[arg-type]  # nor groups
        api_keys=[],
    )
    return context, replicas


def produce_request(acks: int, correlation_id: int = 1) -> bytes:
    batch = make_batch([b"v"])
    body = {
        "transactional_id": None,
        "acks": acks,
        "timeout": TIMEOUT_MS,
        "topic_data": [
            {"name": "t", "partition_data": [{"index": i, "records": batch} for i in (0, 1)]}
        ],
    }
    return request_payload(0, VERSION, body, correlation_id)


def answers(frame: bytes) -> list[Any]:
    """The partition answers of an encoded Produce response frame."""
    _, body = response_header_and_body(0, VERSION, frame[4:])  # after the frame's size
    return list(body.responses[0].partition_responses)


def test_acks_all_answers_each_partition_once_replicated_or_timed_out(tmp_path) -> None:
    clock = ManualClock(1_700_000_000_000)
    context, replicas = leader_of_two_partitions(tmp_path, clock)

    async def scenario() -> bytes | None:
        deferred = await produce.handle(context, read_request(produce_request(-1)))
        assert isinstance(deferred, Deferred)  # appended; the answer waits for the ISR
        task = asyncio.ensure_future(deferred.answer)
        for _ in range(5):
            await asyncio.sleep(0)
        replicated = replicas.replica("t", 0)
        assert replicated is not None
        replicated.update_follower(FOLLOWER, 1)  # the follower fetched partition 0 only
        for _ in range(5):
            await asyncio.sleep(0)
        assert not task.done()
        clock.advance(TIMEOUT_MS)
        return await task

    frame = asyncio.run(scenario())
    assert frame is not None
    got = [(a.index, a.error_code, a.base_offset) for a in answers(frame)]
    assert got == [(0, ErrorCode.none, 0), (1, ErrorCode.request_timed_out, 0)]
    replicas.close()


def test_acks_1_answers_after_the_append(tmp_path) -> None:
    clock = ManualClock(1_700_000_000_000)
    context, replicas = leader_of_two_partitions(tmp_path, clock)
    frame = asyncio.run(produce.handle(context, read_request(produce_request(1))))
    assert frame is not None
    got = [(a.index, a.error_code, a.base_offset) for a in answers(frame)]
    assert got == [(0, ErrorCode.none, 0), (1, ErrorCode.none, 0)]
    assert clock.live_timers == 0
    replicas.close()
