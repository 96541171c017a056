"""The quorum's messages as Kafka's own requests and responses (kio types), both ways.

Vote v2 (52, with KIP-996's ``pre_vote``), BeginQuorumEpoch v1 (53), EndQuorumEpoch v1 (54),
Fetch v12 (1) on ``__cluster_metadata`` partition 0, whose records are the entries as
batches (``broker.raft.batches``) and whose ``snapshot_id`` names the snapshot a follower must
fetch first, and FetchSnapshot v0 (59), whose ``unaligned_records`` are a chunk of the
snapshot file's bytes; DescribeQuorum (55) is answered in any version 0-2 from a body shaped
like v2. The core's ``correlation_id`` never goes on the wire: the connection has
its own; a request's answer is matched to the core's request by the caller, which is why the
response functions take the request they answer.

A request that is not about ``__cluster_metadata-0`` raises ``WireError`` (answered with
INVALID_REQUEST, as Kafka's raft client answers it); so do records that do not decode.
"""

from __future__ import annotations

import datetime
from typing import Any

from kio.schema.begin_quorum_epoch.v1 import request as bqe_req
from kio.schema.begin_quorum_epoch.v1 import response as bqe_resp
from kio.schema.end_quorum_epoch.v1 import request as eqe_req
from kio.schema.end_quorum_epoch.v1 import response as eqe_resp
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as fetch_req
from kio.schema.fetch.v12 import response as fetch_resp
from kio.schema.fetch_snapshot.v0 import request as snap_req
from kio.schema.fetch_snapshot.v0 import response as snap_resp
from kio.schema.vote.v2 import request as vote_req
from kio.schema.vote.v2 import response as vote_resp

from broker.protocol.errors import RecordError
from broker.raft import batches
from broker.raft.messages import (
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    DivergingEpoch,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    Message,
    QuorumInfo,
    ReplicaInfo,
    SnapshotId,
    VoteRequest,
    VoteResponse,
)
from broker.raft.store import METADATA_TOPIC

PARTITION = 0
FETCH_MAX_BYTES = 8 << 20


class WireError(ValueError):
    """A quorum request or response that does not fit ``__cluster_metadata-0``."""


# ---- requests ------------------------------------------------------------------------------


def request_to_kio(message: Message, *, fetch_max_wait_ms: int) -> Any:
    """The kio request for one of the core's requests (``fetch_max_wait_ms``: how long the
    leader may hold a Fetch with nothing new)."""
    if isinstance(message, VoteRequest):
        return vote_req.VoteRequest(
            voter_id=message.destination,
            topics=(
                vote_req.TopicData(
                    topic_name=METADATA_TOPIC,
                    partitions=(
                        vote_req.PartitionData(
                            partition_index=PARTITION,
                            replica_epoch=message.candidate_epoch,
                            replica_id=message.source,
                            replica_directory_id=None,
                            voter_directory_id=None,
                            last_offset_epoch=message.last_offset_epoch,
                            last_offset=message.last_offset,
                            pre_vote=message.pre_vote,
                        ),
                    ),
                ),
            ),
        )
    if isinstance(message, BeginQuorumEpochRequest):
        return bqe_req.BeginQuorumEpochRequest(
            voter_id=message.destination,
            topics=(
                bqe_req.TopicData(
                    topic_name=METADATA_TOPIC,
                    partitions=(
                        bqe_req.PartitionData(
                            partition_index=PARTITION,
                            voter_directory_id=None,
                            leader_id=message.source,
                            leader_epoch=message.leader_epoch,
                        ),
                    ),
                ),
            ),
            leader_endpoints=(),
        )
    if isinstance(message, EndQuorumEpochRequest):
        return eqe_req.EndQuorumEpochRequest(
            topics=(
                eqe_req.TopicData(
                    topic_name=METADATA_TOPIC,
                    partitions=(
                        eqe_req.PartitionData(
                            partition_index=PARTITION,
                            leader_id=message.source,
                            leader_epoch=message.leader_epoch,
                            preferred_candidates=tuple(
                                eqe_req.ReplicaInfo(candidate_id=c, candidate_directory_id=None)
                                for c in message.preferred_successors
                            ),
                        ),
                    ),
                ),
            ),
            leader_endpoints=(),
        )
    if isinstance(message, FetchRequest):
        return fetch_req.FetchRequest(
            replica_id=message.source,
            max_wait=datetime.timedelta(milliseconds=fetch_max_wait_ms),
            min_bytes=0,
            topics=(
                fetch_req.FetchTopic(
                    topic=METADATA_TOPIC,
                    partitions=(
                        fetch_req.FetchPartition(
                            partition=PARTITION,
                            current_leader_epoch=message.current_leader_epoch,
                            fetch_offset=message.fetch_offset,
                            last_fetched_epoch=message.last_fetched_epoch,
                            partition_max_bytes=FETCH_MAX_BYTES,
                        ),
                    ),
                ),
            ),
            forgotten_topics_data=(),
        )
    if isinstance(message, FetchSnapshotRequest):
        return snap_req.FetchSnapshotRequest(
            replica_id=message.source,
            max_bytes=message.max_bytes,
            topics=(
                snap_req.TopicSnapshot(
                    name=METADATA_TOPIC,
                    partitions=(
                        snap_req.PartitionSnapshot(
                            partition=PARTITION,
                            current_leader_epoch=message.current_leader_epoch,
                            snapshot_id=snap_req.SnapshotId(
                                end_offset=message.snapshot_id.end_offset,
                                epoch=message.snapshot_id.epoch,
                            ),
                            position=message.position,
                        ),
                    ),
                ),
            ),
        )
    raise TypeError(f"not a quorum request: {message!r}")


def request_from_kio(body: Any, destination: int, correlation_id: int) -> Message:
    """The core's request for a kio request received by node ``destination``; the caller
    picks ``correlation_id`` (unique among its requests in flight from that source)."""
    if isinstance(body, vote_req.VoteRequest):
        p = _only_partition(body.topics, "topic_name", "partitions")
        return VoteRequest(
            p.replica_id,
            destination,
            correlation_id,
            candidate_epoch=p.replica_epoch,
            last_offset_epoch=p.last_offset_epoch,
            last_offset=p.last_offset,
            pre_vote=p.pre_vote,
        )
    if isinstance(body, bqe_req.BeginQuorumEpochRequest):
        p = _only_partition(body.topics, "topic_name", "partitions")
        return BeginQuorumEpochRequest(
            p.leader_id, destination, correlation_id, leader_epoch=p.leader_epoch
        )
    if isinstance(body, eqe_req.EndQuorumEpochRequest):
        p = _only_partition(body.topics, "topic_name", "partitions")
        return EndQuorumEpochRequest(
            p.leader_id,
            destination,
            correlation_id,
            leader_epoch=p.leader_epoch,
            preferred_successors=tuple(c.candidate_id for c in p.preferred_candidates),
        )
    if isinstance(body, fetch_req.FetchRequest):
        p = _only_partition(body.topics, "topic", "partitions", index="partition")
        return FetchRequest(
            body.replica_id,
            destination,
            correlation_id,
            current_leader_epoch=p.current_leader_epoch,
            fetch_offset=p.fetch_offset,
            last_fetched_epoch=p.last_fetched_epoch,
        )
    if isinstance(body, snap_req.FetchSnapshotRequest):
        p = _only_partition(body.topics, "name", "partitions", index="partition")
        return FetchSnapshotRequest(
            body.replica_id,
            destination,
            correlation_id,
            current_leader_epoch=p.current_leader_epoch,
            snapshot_id=SnapshotId(p.snapshot_id.end_offset, p.snapshot_id.epoch),
            position=p.position,
            max_bytes=body.max_bytes,
        )
    raise WireError(f"not a quorum request: {type(body).__name__}")


def _only_partition(topics: Any, name_field: str, parts_field: str, index: str = "") -> Any:
    index = index or "partition_index"
    if len(topics) != 1 or getattr(topics[0], name_field) != METADATA_TOPIC:
        raise WireError(f"a quorum request must name only {METADATA_TOPIC}")
    partitions = getattr(topics[0], parts_field)
    if len(partitions) != 1 or getattr(partitions[0], index) != PARTITION:
        raise WireError(f"a quorum request must name only {METADATA_TOPIC}-{PARTITION}")
    return partitions[0]


# ---- responses -----------------------------------------------------------------------------


def response_to_kio(request: Message, response: Message, *, timestamp: int) -> Any:
    """The kio response for the core's ``response`` to ``request`` (``timestamp``: stamped
    on the batches of a Fetch answer)."""
    if isinstance(response, VoteResponse):
        return vote_resp.VoteResponse(
            error_code=ErrorCode.none,
            topics=(
                vote_resp.TopicData(
                    topic_name=METADATA_TOPIC,
                    partitions=(
                        vote_resp.PartitionData(
                            partition_index=PARTITION,
                            error_code=response.error,
                            leader_id=response.leader_id,
                            leader_epoch=response.leader_epoch,
                            vote_granted=response.vote_granted,
                        ),
                    ),
                ),
            ),
        )
    if isinstance(response, BeginQuorumEpochResponse):
        return _epoch_response(bqe_resp, bqe_resp.BeginQuorumEpochResponse, response)
    if isinstance(response, EndQuorumEpochResponse):
        return _epoch_response(eqe_resp, eqe_resp.EndQuorumEpochResponse, response)
    if isinstance(response, FetchResponse):
        assert isinstance(request, FetchRequest)
        diverging = response.diverging_epoch
        records = (
            batches.encode(response.records, request.fetch_offset, timestamp)
            if response.error is ErrorCode.none
            else None
        )
        return fetch_resp.FetchResponse(
            throttle_time=datetime.timedelta(0),
            error_code=ErrorCode.none,
            responses=(
                fetch_resp.FetchableTopicResponse(
                    topic=METADATA_TOPIC,
                    partitions=(
                        fetch_resp.PartitionData(
                            partition_index=PARTITION,
                            error_code=response.error,
                            high_watermark=response.high_watermark,
                            diverging_epoch=fetch_resp.EpochEndOffset(
                                epoch=diverging.epoch, end_offset=diverging.end_offset
                            )
                            if diverging is not None
                            else fetch_resp.EpochEndOffset(),
                            current_leader=fetch_resp.LeaderIdAndEpoch(
                                leader_id=response.leader_id, leader_epoch=response.leader_epoch
                            ),
                            snapshot_id=fetch_resp.SnapshotId(
                                end_offset=response.snapshot_id.end_offset,
                                epoch=response.snapshot_id.epoch,
                            )
                            if response.snapshot_id is not None
                            else fetch_resp.SnapshotId(),
                            aborted_transactions=None,
                            records=records,
                        ),
                    ),
                ),
            ),
        )
    if isinstance(response, FetchSnapshotResponse):
        return snap_resp.FetchSnapshotResponse(
            throttle_time=datetime.timedelta(0),
            error_code=ErrorCode.none,
            topics=(
                snap_resp.TopicSnapshot(
                    name=METADATA_TOPIC,
                    partitions=(
                        snap_resp.PartitionSnapshot(
                            index=PARTITION,
                            error_code=response.error,
                            snapshot_id=snap_resp.SnapshotId(
                                end_offset=response.snapshot_id.end_offset,
                                epoch=response.snapshot_id.epoch,
                            ),
                            current_leader=snap_resp.LeaderIdAndEpoch(
                                leader_id=response.leader_id, leader_epoch=response.leader_epoch
                            ),
                            size=response.size,
                            position=response.position,
                            unaligned_records=response.data,
                        ),
                    ),
                ),
            ),
        )
    raise TypeError(f"not a quorum response: {response!r}")


def _epoch_response(
    module: Any, cls: type, response: BeginQuorumEpochResponse | EndQuorumEpochResponse
) -> Any:
    """BeginQuorumEpoch and EndQuorumEpoch answer in the same shape, each with its own types."""
    return cls(
        error_code=ErrorCode.none,
        topics=(
            module.TopicData(
                topic_name=METADATA_TOPIC,
                partitions=(
                    module.PartitionData(
                        partition_index=PARTITION,
                        error_code=response.error,
                        leader_id=response.leader_id,
                        leader_epoch=response.leader_epoch,
                    ),
                ),
            ),
        ),
    )


def error_response(body: Any, error: ErrorCode) -> Any:
    """A top-level ``error`` answer to kio request ``body`` (INVALID_REQUEST for a request
    ``request_from_kio`` refused)."""
    if isinstance(body, vote_req.VoteRequest):
        return vote_resp.VoteResponse(error_code=error, topics=())
    if isinstance(body, bqe_req.BeginQuorumEpochRequest):
        return bqe_resp.BeginQuorumEpochResponse(error_code=error, topics=())
    if isinstance(body, eqe_req.EndQuorumEpochRequest):
        return eqe_resp.EndQuorumEpochResponse(error_code=error, topics=())
    if isinstance(body, fetch_req.FetchRequest):
        return fetch_resp.FetchResponse(
            throttle_time=datetime.timedelta(0), error_code=error, responses=()
        )
    if isinstance(body, snap_req.FetchSnapshotRequest):
        return snap_resp.FetchSnapshotResponse(
            throttle_time=datetime.timedelta(0), error_code=error, topics=()
        )
    raise TypeError(f"not a quorum request: {type(body).__name__}")


def response_from_kio(request: Message, body: Any) -> Message:
    """The core's response for the kio answer ``body`` to the core's ``request``. Raises
    ``WireError`` when it does not fit (the core then retries as after a lost answer)."""
    source, destination, correlation = request.destination, request.source, request.correlation_id
    if isinstance(request, VoteRequest) and isinstance(body, vote_resp.VoteResponse):
        p = _answer_partition(body, "topics", "topic_name")
        return VoteResponse(
            source,
            destination,
            correlation,
            p.error_code,
            p.leader_epoch,
            p.leader_id,
            p.vote_granted,
            request.pre_vote,
        )
    if isinstance(request, BeginQuorumEpochRequest) and isinstance(
        body, bqe_resp.BeginQuorumEpochResponse
    ):
        p = _answer_partition(body, "topics", "topic_name")
        return BeginQuorumEpochResponse(
            source, destination, correlation, p.error_code, p.leader_epoch, p.leader_id
        )
    if isinstance(request, EndQuorumEpochRequest) and isinstance(
        body, eqe_resp.EndQuorumEpochResponse
    ):
        p = _answer_partition(body, "topics", "topic_name")
        return EndQuorumEpochResponse(
            source, destination, correlation, p.error_code, p.leader_epoch, p.leader_id
        )
    if isinstance(request, FetchRequest) and isinstance(body, fetch_resp.FetchResponse):
        p = _answer_partition(body, "responses", "topic")
        entries: list = []
        if p.error_code is ErrorCode.none and p.records:
            try:
                decoded = batches.decode(p.records)
            except RecordError as exc:
                raise WireError(f"fetched metadata records do not decode: {exc}") from exc
            for expected, (offset, entry) in enumerate(decoded, start=request.fetch_offset):
                if offset != expected:
                    raise WireError(f"fetched entry at offset {offset}, expected {expected}")
                entries.append(entry)
        diverging, snapshot = p.diverging_epoch, p.snapshot_id
        return FetchResponse(
            source,
            destination,
            correlation,
            p.error_code,
            p.current_leader.leader_epoch,
            p.current_leader.leader_id,
            high_watermark=p.high_watermark,
            records=tuple(entries),
            diverging_epoch=DivergingEpoch(diverging.epoch, diverging.end_offset)
            if diverging.epoch >= 0 and diverging.end_offset >= 0
            else None,
            snapshot_id=SnapshotId(snapshot.end_offset, snapshot.epoch)
            if snapshot.epoch >= 0 and snapshot.end_offset >= 0
            else None,
        )
    if isinstance(request, FetchSnapshotRequest) and isinstance(
        body, snap_resp.FetchSnapshotResponse
    ):
        p = _answer_partition(body, "topics", "name", index="index")
        return FetchSnapshotResponse(
            source,
            destination,
            correlation,
            p.error_code,
            p.current_leader.leader_epoch,
            p.current_leader.leader_id,
            SnapshotId(p.snapshot_id.end_offset, p.snapshot_id.epoch),
            size=p.size,
            position=p.position,
            data=bytes(p.unaligned_records or b""),
        )
    raise WireError(f"{type(body).__name__} does not answer {type(request).__name__}")


def _answer_partition(
    body: Any, topics_field: str, name_field: str, index: str = "partition_index"
) -> Any:
    if body.error_code is not ErrorCode.none:
        raise WireError(f"{type(body).__name__} error {body.error_code.name}")
    topics = getattr(body, topics_field)
    if len(topics) != 1 or getattr(topics[0], name_field) != METADATA_TOPIC:
        raise WireError(f"the answer does not name only {METADATA_TOPIC}")
    partitions = topics[0].partitions
    if len(partitions) != 1 or getattr(partitions[0], index) != PARTITION:
        raise WireError(f"the answer does not name only {METADATA_TOPIC}-{PARTITION}")
    return partitions[0]


# ---- DescribeQuorum ------------------------------------------------------------------------


def describe_quorum_body(
    info: QuorumInfo | None,
    *,
    error: ErrorCode = ErrorCode.none,
    leader_id: int = -1,
    leader_epoch: int = -1,
    endpoints: dict[int, tuple[str, int]] | None = None,
    listener: str = "CONTROLLER",
) -> dict:
    """A DescribeQuorum answer shaped like v2 (for ``encode_response``, any version): the
    leader's ``info``, or ``error`` (NOT_LEADER_OR_FOLLOWER with the leader known here)."""

    def rows(replicas: tuple[ReplicaInfo, ...]) -> list[dict]:
        return [
            {
                "replica_id": r.replica_id,
                "replica_directory_id": None,
                "log_end_offset": r.log_end_offset,
                "last_fetch_timestamp": r.last_fetch_timestamp,
                "last_caught_up_timestamp": r.last_caught_up_timestamp,
            }
            for r in replicas
        ]

    partition: dict[str, Any] = {"partition_index": PARTITION, "error_message": None}
    if info is None:
        partition |= {
            "error_code": error,
            "leader_id": leader_id,
            "leader_epoch": leader_epoch,
            "high_watermark": -1,
            "current_voters": [],
            "observers": [],
        }
    else:
        partition |= {
            "error_code": ErrorCode.none,
            "leader_id": info.leader_id,
            "leader_epoch": info.leader_epoch,
            "high_watermark": info.high_watermark,
            "current_voters": rows(info.voters),
            "observers": rows(info.observers),
        }
    nodes = [
        {"node_id": node, "listeners": [{"name": listener, "host": host, "port": port}]}
        for node, (host, port) in sorted((endpoints or {}).items())
    ]
    return {
        "error_code": ErrorCode.none,
        "error_message": None,
        "topics": [{"topic_name": METADATA_TOPIC, "partitions": [partition]}],
        "nodes": nodes,
    }
