"""The quorum's messages survive the trip through Kafka's wire format: core message -> kio
entity -> bytes (kio's writer) -> kio entity (kio's reader) -> the same core message."""

from __future__ import annotations

import io

import pytest
from kio.index import load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

from broker.net.controller_handlers.quorum import _empty_fetch_body
from broker.protocol.codec import encode_body
from broker.raft.messages import (
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    DivergingEpoch,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    Entry,
    FetchRequest,
    FetchResponse,
    QuorumInfo,
    ReplicaInfo,
    VoteRequest,
    VoteResponse,
)
from broker.raft.wire import (
    WireError,
    describe_quorum_body,
    error_response,
    request_from_kio,
    request_to_kio,
    response_from_kio,
    response_to_kio,
)


def _through_bytes(entity):
    cls = type(entity)
    out = io.BytesIO()
    entity_writer(cls)(out, entity)
    decoded, used = entity_reader(cls)(out.getvalue(), 0)
    assert used == len(out.getvalue())
    return decoded


def _round_trip(request, response):
    body = _through_bytes(request_to_kio(request, fetch_max_wait_ms=200))
    received = request_from_kio(body, request.destination, request.correlation_id)
    assert received == request
    answer = _through_bytes(response_to_kio(received, response, timestamp=1_700_000_000_000))
    assert response_from_kio(request, answer) == response


@pytest.mark.parametrize("pre_vote", [True, False])
def test_vote(pre_vote):
    request = VoteRequest(1, 2, 7, 5, 4, 12, pre_vote)
    _round_trip(request, VoteResponse(2, 1, 7, ErrorCode.none, 4, -1, True, pre_vote))
    fenced = ErrorCode.fenced_leader_epoch
    _round_trip(request, VoteResponse(2, 1, 7, fenced, 6, 0, False, pre_vote))


def test_begin_and_end_quorum_epoch():
    _round_trip(
        BeginQuorumEpochRequest(0, 2, 3, leader_epoch=9),
        BeginQuorumEpochResponse(2, 0, 3, ErrorCode.none, 9, 0),
    )
    _round_trip(
        EndQuorumEpochRequest(0, 1, 4, leader_epoch=9, preferred_successors=(2, 1)),
        EndQuorumEpochResponse(1, 0, 4, ErrorCode.fenced_leader_epoch, 10, 2),
    )


def test_fetch_with_entries():
    request = FetchRequest(2, 0, 11, current_leader_epoch=3, fetch_offset=5, last_fetched_epoch=2)
    records = (Entry(3, b"", leader_change=True), Entry(3, b"topic"), Entry(3, b"more"))
    _round_trip(request, FetchResponse(0, 2, 11, ErrorCode.none, 3, 0, 8, records))


def test_fetch_with_a_diverging_epoch_or_an_error():
    request = FetchRequest(2, 0, 12, current_leader_epoch=3, fetch_offset=9, last_fetched_epoch=2)
    _round_trip(
        request,
        FetchResponse(0, 2, 12, ErrorCode.none, 3, 0, 6, diverging_epoch=DivergingEpoch(1, 4)),
    )
    _round_trip(request, FetchResponse(0, 2, 12, ErrorCode.not_leader_or_follower, 3, -1, -1))


def test_a_request_for_another_partition_is_refused():
    body = request_to_kio(
        FetchRequest(2, 0, 1, current_leader_epoch=1, fetch_offset=0, last_fetched_epoch=0),
        fetch_max_wait_ms=200,
    )
    topic = body.topics[0]
    partition = topic.partitions[0]
    wrong = type(body)(
        replica_id=body.replica_id,
        max_wait=body.max_wait,
        min_bytes=0,
        topics=(type(topic)(topic="tweets", partitions=(partition,)),),
        forgotten_topics_data=(),
    )
    with pytest.raises(WireError, match="__cluster_metadata"):
        request_from_kio(wrong, 0, 1)
    refused = _through_bytes(error_response(wrong, ErrorCode.invalid_request))
    assert refused.error_code is ErrorCode.invalid_request


def test_an_error_answer_does_not_pass_for_the_core():
    request = VoteRequest(1, 2, 7, 5, 4, 12, False)
    body = request_to_kio(request, fetch_max_wait_ms=200)
    answer = error_response(body, ErrorCode.invalid_request)
    with pytest.raises(WireError, match="invalid_request"):
        response_from_kio(request, answer)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_quorum_encodes_in_every_version(version):
    info = QuorumInfo(
        leader_id=0,
        leader_epoch=4,
        high_watermark=17,
        voters=(ReplicaInfo(0, 17, 1000, 1000), ReplicaInfo(1, 15, 990, 980)),
        observers=(ReplicaInfo(3, 12, 900, -1),),
    )
    body = describe_quorum_body(info, endpoints={0: ("127.0.0.1", 9192)})
    data = encode_body(55, version, body)
    cls = load_response_schema(55, version)
    decoded, _ = entity_reader(cls)(data, 0)
    partition = decoded.topics[0].partitions[0]
    assert (partition.leader_id, partition.leader_epoch, partition.high_watermark) == (0, 4, 17)
    voters = [(r.replica_id, r.log_end_offset) for r in partition.current_voters]
    assert voters == [(0, 17), (1, 15)]
    assert [r.replica_id for r in partition.observers] == [3]
    if version >= 1:
        assert partition.current_voters[1].last_caught_up_timestamp == 980


@pytest.mark.parametrize(
    ("error", "high_watermark", "leader_id"),
    [(ErrorCode.none, 8, 0), (ErrorCode.none, 9, 0), (ErrorCode.not_leader_or_follower, -1, 2)],
)
def test_an_answer_that_carries_nothing_is_sent_as_the_one_encoded_for_it(
    error, high_watermark, leader_id
):
    # The controller listener sends an idle leader's Fetch answers from bytes encoded once;
    # they must be those of the answer itself, for whichever request it answers.
    request = FetchRequest(2, 0, 13, current_leader_epoch=3, fetch_offset=9, last_fetched_epoch=3)
    answer = FetchResponse(0, 2, 13, error, 3, leader_id, high_watermark)
    entity = response_to_kio(request, answer, timestamp=1_700_000_000_000)
    out = io.BytesIO()
    entity_writer(type(entity))(out, entity)
    assert _empty_fetch_body(error, high_watermark, leader_id, 3) == out.getvalue()
    body, _ = entity_reader(type(entity))(out.getvalue(), 0)
    assert response_from_kio(request, body) == answer
