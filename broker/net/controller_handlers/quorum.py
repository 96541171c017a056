"""The quorum's APIs on the CONTROLLER listener, answered by this node's ``RaftRuntime``.

Vote v2 (52), BeginQuorumEpoch v1 (53), EndQuorumEpoch v1 (54), Fetch v12 (1) and
FetchSnapshot v0 (59) on ``__cluster_metadata-0`` go to the Raft core through
``broker.raft.wire``; a request about
another partition gets INVALID_REQUEST, as from Kafka's raft client. DescribeQuorum (55,
v0-2) is answered by the leader; another node answers NOT_LEADER_OR_FOLLOWER naming the leader
it knows.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode
from kio.serial import entity_writer

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request, response_frame
from broker.raft.core import NotLeaderError, QuorumStateError
from broker.raft.messages import FetchRequest, FetchResponse
from broker.raft.store import METADATA_TOPIC
from broker.raft.wire import (
    PARTITION,
    WireError,
    describe_quorum_body,
    error_response,
    request_from_kio,
    response_to_kio,
)

if TYPE_CHECKING:
    from broker.net.controller_handlers import ControllerContext

FETCH, VOTE, BEGIN_QUORUM_EPOCH, END_QUORUM_EPOCH, DESCRIBE_QUORUM = 1, 52, 53, 54, 55
FETCH_SNAPSHOT = 59


async def handle_raft(context: ControllerContext, request: Request) -> bytes:
    """Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch and FetchSnapshot: the core's answer,
    or a top-level error when the request does not fit or the node cannot answer it now."""
    body = request.body
    try:
        message = request_from_kio(body, context.node_id, request.correlation_id)
    except WireError:
        return _frame(request, error_response(body, ErrorCode.invalid_request))
    try:
        answer = await context.raft.handle(message)
    except TimeoutError:
        return _frame(request, error_response(body, ErrorCode.request_timed_out))
    except (NotLeaderError, QuorumStateError):  # the raft node is not running
        return _frame(request, error_response(body, ErrorCode.broker_not_available))
    if isinstance(answer, FetchResponse) and _nothing_to_carry(answer):
        body = _empty_fetch_body(
            answer.error, answer.high_watermark, answer.leader_id, answer.leader_epoch
        )
        return response_frame(request.api_key, request.version, request.correlation_id, body)
    return _frame(request, response_to_kio(message, answer, timestamp=context.now_ms()))


def _nothing_to_carry(answer: FetchResponse) -> bool:
    """An idle quorum's Fetch answer: no entries, no divergence, no snapshot to fetch."""
    return not answer.records and answer.diverging_epoch is None and answer.snapshot_id is None


@lru_cache(maxsize=16)
def _empty_fetch_body(error: ErrorCode, high_watermark: int, leader_id: int, epoch: int) -> bytes:
    """The body of a Fetch answer that carries nothing, encoded once: an idle leader gives
    each follower the same one every ``fetch.max.wait.ms`` until the high watermark moves."""
    request = FetchRequest(leader_id, leader_id, 0, epoch, 0, 0)
    answer = FetchResponse(leader_id, leader_id, 0, error, epoch, leader_id, high_watermark)
    out = io.BytesIO()
    entity = response_to_kio(request, answer, timestamp=0)
    entity_writer(type(entity))(out, entity)
    return out.getvalue()


async def handle_describe_quorum(context: ControllerContext, request: Request) -> dict:
    raft = context.raft
    endpoints = raft.voters
    topics = request.body.topics
    if (
        len(topics) != 1
        or topics[0].topic_name != METADATA_TOPIC
        or [p.partition_index for p in topics[0].partitions] != [PARTITION]
    ):
        return describe_quorum_body(
            None, error=ErrorCode.unknown_topic_or_partition, endpoints=endpoints
        )
    try:
        info = raft.describe_quorum()
    except NotLeaderError as exc:
        return describe_quorum_body(
            None,
            error=ErrorCode.not_leader_or_follower,
            leader_id=exc.leader_id,
            leader_epoch=exc.epoch,
            endpoints=endpoints,
        )
    return describe_quorum_body(info, endpoints=endpoints, listener=context.listener_name)


def _frame(request: Request, entity: Any) -> bytes:
    out = io.BytesIO()
    entity_writer(type(entity))(out, entity)
    return response_frame(request.api_key, request.version, request.correlation_id, out.getvalue())


SPECS = [
    ApiSpec(FETCH, "Fetch", 12, 12, handle_raft),
    ApiSpec(VOTE, "Vote", 2, 2, handle_raft),
    ApiSpec(BEGIN_QUORUM_EPOCH, "BeginQuorumEpoch", 1, 1, handle_raft),
    ApiSpec(END_QUORUM_EPOCH, "EndQuorumEpoch", 1, 1, handle_raft),
    ApiSpec(DESCRIBE_QUORUM, "DescribeQuorum", 0, 2, handle_describe_quorum),
    ApiSpec(FETCH_SNAPSHOT, "FetchSnapshot", 0, 0, handle_raft),
]
