"""Fetch (1): whole batches below the high watermark, with long polling; and the leader's
side of replication.

Every requested partition appears in a full answer (kafka-python rejects a full response that
omits one). The first partition with data may exceed the byte limits by one batch (KIP-74);
after it, the response stops at ``max_bytes``. With less than ``min_bytes`` available the
request waits up to ``max_wait`` for the high watermark of any of its partitions to move,
unless a partition's answer is an error (NOT_LEADER_OR_FOLLOWER after a leader change,
OFFSET_OUT_OF_RANGE, ...): that is sent at once, as Kafka does.

Fetch sessions (KIP-227, from v7): ``broker.net.fetch_sessions`` decides which partitions a
fetch reads (an incremental fetch names only what changed; its session remembers the rest)
and which the answer carries (an incremental answer only those with something to say). A
sessionless fetch (epoch -1, librdkafka's) reads and answers every partition it names. A
session error (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH,
FETCH_SESSION_TOPIC_ID_ERROR) is the answer's top-level error, with no partitions.

From v13 topics are named by topic id, in the request and in the answer; an id this broker does
not know gets UNKNOWN_TOPIC_ID for each of its partitions.

A fetch from a follower names it: ``replica_id`` >= 0 up to v14, ``replica_state.replica_id``
from v15 (KIP-903). A broker that is not one of the partition's replicas is refused, as
Kafka's ``Partition.followerReplicaOrThrow`` refuses it: UNKNOWN_LEADER_EPOCH when the request
names the current leader epoch (that replica may not be known here yet), NOT_LEADER_OR_FOLLOWER
when it names none. A follower's fetch reads up to the log end offset, not the high
watermark; its ``fetch_offset`` is that follower's log end offset, which the leader's replica
records (and the high watermark may move on), with its ``log_start_offset`` (v5+: a
DeleteRecords waits for it). When its ``last_fetched_epoch`` (v12) shows that its log left
this one, the answer carries no records but ``diverging_epoch``, and the
follower's position is not recorded (KIP-320, as Kafka's leader does). It waits for appends,
and is answered at once when the high watermark is not the one that follower was last sent
(Kafka's delayed fetch does the same), so followers learn it without a wait, and when this
node takes over leading a partition that follower replicates (``ReplicaManager.hold``), so
its next fetch names that partition without waiting out the hold.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any, NamedTuple

from kio.schema.errors import ErrorCode

from broker.net.fetch_sessions import FINAL_EPOCH, NO_SESSION, Answered, FetchContext
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request
from broker.protocol.fetch_response import FetchPartition, encode_fetch_response
from broker.storage.errors import OffsetOutOfRange

if TYPE_CHECKING:
    from broker.net.context import Context
    from broker.replica.replica import Replica


TOPIC_IDS = 13  # the first version that names topics by id


class _Topic(NamedTuple):
    """A requested topic: what the answer calls it (its name, or from v13 its id), its name
    here (None: an unknown id) and the partitions asked for."""

    key: str | uuid.UUID
    name: str | None
    partitions: Any


def _wanted(version: int, topics: Any) -> list[tuple[tuple[str | uuid.UUID, int], Any]]:
    """The partitions a request names, keyed by (topic name or id, index)."""
    by_id = version >= TOPIC_IDS
    return [
        ((topic.topic_id if by_id else topic.topic, wanted.partition), wanted)
        for topic in topics
        for wanted in topic.partitions
    ]


def _forgotten(version: int, body: Any) -> list[tuple[str | uuid.UUID, int]]:
    by_id = version >= TOPIC_IDS
    return [
        (topic.topic_id if by_id else topic.topic, index)
        for topic in getattr(body, "forgotten_topics_data", ())
        for index in topic.partitions
    ]


def _topics(context: Context, version: int, partitions: list[tuple[Any, Any]]) -> list[_Topic]:
    """The partitions to read, grouped by topic in their order, with each topic's name."""
    grouped: dict[str | uuid.UUID, list[Any]] = {}
    for (key, _), wanted in partitions:
        grouped.setdefault(key, []).append(wanted)
    if version < TOPIC_IDS:
        return [_Topic(key, key, wanted) for key, wanted in grouped.items()]
    by_id = context.metadata.image.topics_by_id
    found = []
    for key, wanted in grouped.items():
        image = by_id.get(key)
        found.append(_Topic(key, image and image.name, wanted))
    return found


def _replica_id_of(body: Any) -> int:
    """The follower a fetch comes from, -1 for a consumer: v15+ name it in ``replica_state``."""
    state = getattr(body, "replica_state", None)
    return body.replica_id if state is None else state.replica_id


def _collect(
    context: Context,
    topics: list[_Topic],
    max_bytes: int,
    replica_id: int,
    *,
    update_followers: bool = True,
) -> tuple[list, int, bool]:
    """The answer, its record bytes, and whether it must go at once: it holds an error or a
    diverging epoch, or tells a follower a high watermark it was not yet sent. A follower's
    fetch offsets update its state once, as the request arrives (``update_followers``);
    read again when a held fetch ends, they are as they were (Kafka's DelayedFetch reads
    the logs again without updating the followers)."""
    replicas = context.replicas
    from_follower = replica_id >= 0
    urgent = False
    remaining = max_bytes
    total = 0
    answer = []
    for key, name, wanted_partitions in topics:
        parts = []
        for wanted in wanted_partitions:
            index = wanted.partition
            if name is None:
                parts.append(FetchPartition(index, ErrorCode.unknown_topic_id))
                urgent = True
                continue
            partition = replicas.replica(name, index)
            if partition is None:
                parts.append(FetchPartition(index, ErrorCode.unknown_topic_or_partition))
                urgent = True
                continue
            leader_epoch = getattr(wanted, "current_leader_epoch", -1)
            error = partition.check_leader(leader_epoch)
            if error is None and from_follower and replica_id not in partition.followers:
                error = (
                    ErrorCode.unknown_leader_epoch
                    if leader_epoch >= 0
                    else ErrorCode.not_leader_or_follower
                )
            log_start = partition.log_start_offset
            if error is not None:
                hw = partition.high_watermark
                parts.append(FetchPartition(index, error, hw, hw, log_start))
                urgent = True
                continue
            offset = wanted.fetch_offset
            if from_follower:
                last_epoch = getattr(wanted, "last_fetched_epoch", -1)
                diverging = partition.diverging_epoch(offset, last_epoch)
                if diverging is not None:
                    hw = partition.high_watermark
                    parts.append(FetchPartition(index, 0, hw, hw, log_start, b"", -1, diverging))
                    urgent = True
                    continue
                if update_followers and log_start <= offset <= partition.log_end_offset:
                    partition.update_follower(
                        replica_id, offset, getattr(wanted, "log_start_offset", -1)
                    )
            hw = partition.high_watermark
            if from_follower:
                told = partition.follower_high_watermarks
                urgent = urgent or told.get(replica_id) != hw
                told[replica_id] = hw
            region = None
            if remaining > 0:
                limit = min(wanted.partition_max_bytes, remaining)
                try:
                    region = partition.read(offset, limit, to_log_end=from_follower)
                except OffsetOutOfRange:
                    parts.append(
                        FetchPartition(index, ErrorCode.offset_out_of_range, hw, hw, log_start)
                    )
                    urgent = True
                    continue
                if region is not None and total and region.length > remaining:
                    region = None  # only the first partition with data may overshoot
            if region is not None:
                total += region.length
                remaining -= region.length
            parts.append(FetchPartition(index, ErrorCode.none, hw, hw, log_start, region or b""))
        answer.append((key, parts))
    return answer, total, urgent


def _time_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _partitions(context: Context, topics: list[_Topic]) -> list[Replica]:
    found = []
    for _, name, wanted_partitions in topics:
        for wanted in wanted_partitions:
            partition = name and context.replicas.replica(name, wanted.partition)
            if partition:
                found.append(partition)
    return found


def _said(part: FetchPartition) -> Answered:
    records = part.records
    if records is None:
        size = 0
    elif isinstance(records, bytes | bytearray | memoryview):
        size = len(records)
    else:
        size = records.length
    special = part.preferred_read_replica >= 0 or part.diverging_epoch not in (None, (-1, -1))
    return Answered(part.error_code, part.high_watermark, part.log_start_offset, size, special)


def _shape(fetch: FetchContext, answer: list) -> tuple[int, list]:
    """The session id to answer with, and the answer cut to what the session must carry."""
    if fetch.sessionless:  # librdkafka's fetches: nothing to compare, nothing to cut
        return NO_SESSION, answer
    said = [((key, part.index), _said(part)) for key, parts in answer for part in parts]
    session_id, carried = fetch.answer(said)
    if len(carried) == len(said):
        return session_id, answer
    keep = set(carried)
    shaped = []
    for key, parts in answer:
        kept = [part for part in parts if (key, part.index) in keep]
        if kept:
            shaped.append((key, kept))
    return session_id, shaped


async def handle(context: Context, request: Request) -> list:
    body = request.body
    version = request.version
    replica_id = _replica_id_of(body)
    fetch = context.fetch_sessions.context(
        getattr(body, "session_id", NO_SESSION),
        getattr(body, "session_epoch", FINAL_EPOCH),
        _wanted(version, body.topics),
        _forgotten(version, body),
        uses_topic_ids=version >= TOPIC_IDS,
        privileged=replica_id >= 0,
    )
    if fetch.error:
        return encode_fetch_response(version, request.correlation_id, [], error_code=fetch.error)
    topics = _topics(context, version, fetch.partitions)
    answer, total, urgent = _collect(context, topics, body.max_bytes, replica_id)
    deadline = time.monotonic() + body.max_wait.total_seconds()
    while total < body.min_bytes and not urgent and (wait := deadline - time.monotonic()) > 0:
        partitions = _partitions(context, topics)
        if not partitions:
            break
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        for partition in partitions:
            partition.add_waiter(waiter, on_append=replica_id >= 0)
        # One timer on the waiter itself: an idle long poll ends here every max_wait, and
        # asyncio.wait's extra future and callbacks were a good part of its cost.
        timer = loop.call_later(wait, _time_up, waiter)
        held = context.replicas.hold(replica_id, waiter) if replica_id >= 0 else None
        try:
            await waiter
        finally:
            timer.cancel()
            for partition in partitions:
                partition.remove_waiter(waiter)
            if held is not None:
                context.replicas.release(replica_id, held)
        answer, total, urgent = _collect(
            context, topics, body.max_bytes, replica_id, update_followers=False
        )
        if held is not None and held.new_partition:
            break  # this follower's next fetch names a partition that just moved here
    session_id, answer = _shape(fetch, answer)
    return encode_fetch_response(version, request.correlation_id, answer, session_id=session_id)


SPECS = [ApiSpec(1, "Fetch", 4, 15, handle)]
