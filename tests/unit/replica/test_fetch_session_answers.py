"""Fetch sessions (KIP-227) through the real Fetch handler, on a leader of t-0 and t-1 whose
ISR has a follower (manual clock), with requests and answers in kio's encoding: a full fetch
of epoch 0 opens a session, an incremental one names only what changed and is answered only
with what has something to say, and a bad session is refused at the top level."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.config import BrokerConfig
from broker.net.context import Context
from broker.net.handlers import fetch
from broker.protocol.codec import read_request
from tests.support.wire import request_payload, response_header_and_body
from tests.unit.replica.test_fetch_details import NOW_MS, write
from tests.unit.replica.test_produce_acks import FOLLOWER, TOPIC_ID, leader_of_two_partitions


@pytest.fixture
def leader(tmp_path: Path) -> Any:
    context, replicas = leader_of_two_partitions(tmp_path, ManualClock(NOW_MS))
    yield context, replicas
    replicas.close()


def body(
    version: int,
    session: tuple[int, int],
    offsets: dict[int, int],
    forgotten: tuple[int, ...] = (),
    replica: int = FOLLOWER,
) -> dict[str, Any]:
    """A Fetch of t's partitions at ``offsets`` in ``session`` (id, epoch)."""
    named: dict[str, Any] = {"topic_id": TOPIC_ID} if version >= 13 else {"topic": "t"}
    partitions = [
        {
            "partition": index,
            "current_leader_epoch": -1,
            "fetch_offset": offset,
            "last_fetched_epoch": -1,
            "log_start_offset": -1,
            "partition_max_bytes": 1 << 20,
        }
        for index, offset in offsets.items()
    ]
    return {
        "replica_id": replica,
        "max_wait": datetime.timedelta(0),
        "min_bytes": 0,
        "max_bytes": 1 << 20,
        "isolation_level": 0,
        "session_id": session[0],
        "session_epoch": session[1],
        "topics": [{**named, "partitions": partitions}] if partitions else [],
        "forgotten_topics_data": [{**named, "partitions": list(forgotten)}] if forgotten else [],
        "rack_id": "",
    }


def answer(context: Context, version: int, request: dict[str, Any]) -> Any:
    parts = asyncio.run(fetch.handle(context, read_request(request_payload(1, version, request))))
    frame = b"".join(part if isinstance(part, bytes) else part.read_bytes() for part in parts)
    return response_header_and_body(1, version, frame[4:])[1]


def carried(response: Any) -> dict[int, Any]:
    return {p.partition_index: p for topic in response.responses for p in topic.partitions}


def test_an_idle_incremental_fetch_names_nothing_and_is_answered_with_nothing(leader) -> None:
    context, _ = leader
    full = answer(context, 12, body(12, (0, 0), {0: 0, 1: 0}))
    assert full.session_id != 0
    assert set(carried(full)) == {0, 1}  # the full answer carries everything
    idle = answer(context, 12, body(12, (full.session_id, 1), {}))
    assert idle.error_code == ErrorCode.none
    assert idle.session_id == full.session_id
    assert idle.responses == ()
    assert context.fetch_sessions.created == 1


def test_an_incremental_answer_carries_only_the_partition_with_news(leader) -> None:
    context, replicas = leader
    session_id = answer(context, 12, body(12, (0, 0), {0: 0, 1: 0})).session_id
    write(replicas.replica("t", 0), 2)
    news = carried(answer(context, 12, body(12, (session_id, 1), {})))
    assert set(news) == {0}  # t-1 has nothing to say
    assert news[0].records  # the follower reads to the log end, from the offset it gave
    # the follower appended them: it names t-0's new offset; the leader's high watermark moves
    moved = carried(answer(context, 12, body(12, (session_id, 2), {0: 2})))
    assert set(moved) == {0} and moved[0].high_watermark == 2 and not moved[0].records
    assert answer(context, 12, body(12, (session_id, 3), {})).responses == ()


def test_forgotten_partitions_leave_the_session(leader) -> None:
    context, replicas = leader
    session_id = answer(context, 12, body(12, (0, 0), {0: 0, 1: 0})).session_id
    answer(context, 12, body(12, (session_id, 1), {}, forgotten=(1,)))
    write(replicas.replica("t", 1), 1)
    assert answer(context, 12, body(12, (session_id, 2), {})).responses == ()


@pytest.mark.parametrize(
    ("session", "error"),
    [
        ((12345, 1), ErrorCode.fetch_session_id_not_found),
        (None, ErrorCode.invalid_fetch_session_epoch),
    ],
)
def test_a_bad_session_is_refused_at_the_top_level(leader, session, error) -> None:
    context, _ = leader
    session_id = answer(context, 12, body(12, (0, 0), {0: 0})).session_id
    refused = answer(context, 12, body(12, session or (session_id, 5), {0: 0}))
    assert refused.error_code == error
    assert refused.session_id == 0
    assert refused.responses == ()


def test_a_session_opened_by_name_refuses_a_fetch_by_topic_id(leader) -> None:
    context, _ = leader
    session_id = answer(context, 12, body(12, (0, 0), {0: 0})).session_id
    refused = answer(context, 13, body(13, (session_id, 1), {}))
    assert refused.error_code == ErrorCode.fetch_session_topic_id_error


def test_a_session_by_topic_id_answers_by_topic_id(leader) -> None:
    context, replicas = leader
    session_id = answer(context, 13, body(13, (0, 0), {0: 0, 1: 0})).session_id
    write(replicas.replica("t", 1), 1)
    news = answer(context, 13, body(13, (session_id, 1), {}))
    assert [topic.topic_id for topic in news.responses] == [TOPIC_ID]
    assert set(carried(news)) == {1}


@pytest.mark.parametrize("version", [4, 12])
def test_a_sessionless_fetch_is_answered_in_full_without_a_session(leader, version) -> None:
    context, _ = leader
    request = body(version, (0, -1), {0: 0, 1: 0}, replica=-1)
    if version < 7:
        for key in ("session_id", "session_epoch", "forgotten_topics_data", "rack_id"):
            del request[key]
    response = answer(context, version, request)
    assert set(carried(response)) == {0, 1}
    assert getattr(response, "session_id", 0) == 0
    assert context.fetch_sessions.sessions == {}


def test_with_no_slots_a_full_fetch_opens_no_session(leader) -> None:
    context, replicas = leader
    no_slots = Context(
        config=BrokerConfig(fetch_session_cache_slots=0),
        clock=context.clock,
        metadata=context.metadata,
        replicas=replicas,
        controller=context.controller,
        groups=context.groups,
        api_keys=[],
    )
    assert answer(no_slots, 12, body(12, (0, 0), {0: 0})).session_id == 0
