"""Produce (0): validate each partition's batches, append them, answer with base offsets.

The hot path: kio's native parser has already split the request; per partition this checks
the batch headers and CRC-32C, bounds how far compressed batches would expand, appends the
bytes as they came (rewritten only for topics whose ``compression.type`` or
``message.timestamp.type`` asks: ``broker.protocol.conform``), and encodes the answer by hand.
acks=1 is answered right after the append; acks=all once the ISR holds every appended batch,
or at the request's timeout (``broker.replica.purgatory``): the handler returns that answer
``Deferred``, so the connection may append its next Produce meanwhile; acks=0 not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.metadata.topics import is_internal
from broker.net.registry import ApiSpec, Deferred
from broker.protocol.batch import BatchHeader, validate_produced
from broker.protocol.codec import Request, millis
from broker.protocol.compression import check_expansion
from broker.protocol.conform import NO_APPEND_TIME, conform, keyless_records
from broker.protocol.errors import CorruptRecord, InvalidRecord, ProtocolError
from broker.protocol.produce_response import PartitionResult, encode_produce_response
from broker.replica.purgatory import AwaitedAck, await_acks, settled
from broker.replica.replica import ALL_ACKS, ReplicaError
from broker.storage.errors import DuplicateBatch, ProducerStateError, StorageError

if TYPE_CHECKING:
    from broker.clock import Clock
    from broker.net.context import Context
    from broker.replica.replica import Replica


def _append(
    replica: Replica | None,
    index: int,
    records: bytes | None,
    max_decompressed_bytes: int,
    now_ms: int,
    acks: int,
    waiting: list[AwaitedAck],
) -> PartitionResult:
    """Append one partition's batches. A successful acks=all append adds to ``waiting`` the
    offset the high watermark must reach before the answer goes out."""
    if replica is None:
        return PartitionResult(index, ErrorCode.unknown_topic_or_partition)
    log_start = replica.log_start_offset
    config = replica.config
    max_message_bytes = config.max_message_bytes
    if not records:
        return PartitionResult(
            index,
            ErrorCode.invalid_record,
            log_start_offset=log_start,
            error_message="no record batch in the request",
        )
    try:
        headers = validate_produced(records)
    except CorruptRecord as exc:
        return PartitionResult(
            index, ErrorCode.corrupt_message, log_start_offset=log_start, error_message=str(exc)
        )
    except InvalidRecord as exc:
        return PartitionResult(
            index, ErrorCode.invalid_record, log_start_offset=log_start, error_message=str(exc)
        )
    if (too_large := _too_large(index, headers, max_message_bytes, log_start, "")) is not None:
        return too_large
    for header in headers:
        if header.is_transactional:
            return PartitionResult(
                index,
                ErrorCode.invalid_record,
                log_start_offset=log_start,
                error_message="transactions are not supported",
            )
        try:
            check_expansion(records, header, max_decompressed_bytes)
        except InvalidRecord as exc:
            return PartitionResult(
                index, ErrorCode.invalid_record, log_start_offset=log_start, error_message=str(exc)
            )
    if config.compacts and (rejected := _keyless(replica, index, records, headers)) is not None:
        return rejected
    append_time = NO_APPEND_TIME
    # The topic's compression.type and message.timestamp.type.
    if config.message_timestamp_type == "LogAppendTime":
        append_time = now_ms
    try:
        records, headers = conform(
            records, headers, config.compression_type, config.compression_level, append_time
        )
    except InvalidRecord as exc:
        return PartitionResult(
            index, ErrorCode.invalid_record, log_start_offset=log_start, error_message=str(exc)
        )
    # Kafka checks again after recompressing: a batch may have grown.
    too_large = _too_large(index, headers, max_message_bytes, log_start, " as stored")
    if too_large is not None:
        return too_large
    try:
        base_offset = replica.append(records, headers, now_ms, acks)
    except ReplicaError as exc:  # NOT_ENOUGH_REPLICAS, NOT_LEADER_OR_FOLLOWER
        return PartitionResult(index, exc.code, log_start_offset=log_start, error_message=str(exc))
    except DuplicateBatch as duplicate:  # a retry: success at the original offset
        if acks == ALL_ACKS:  # once the original is replicated
            waiting.append(AwaitedAck(replica, duplicate.last_offset + 1))
        return PartitionResult(index, ErrorCode.none, duplicate.base_offset, -1, log_start)
    except ProducerStateError as exc:  # OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH
        return PartitionResult(
            index, ErrorCode(exc.error_code), log_start_offset=log_start, error_message=str(exc)
        )
    except StorageError as exc:
        return PartitionResult(
            index, ErrorCode.kafka_storage_error, log_start_offset=log_start, error_message=str(exc)
        )
    if acks == ALL_ACKS:
        waiting.append(AwaitedAck(replica, replica.log_end_offset))
    return PartitionResult(
        index, ErrorCode.none, base_offset, append_time, replica.log_start_offset
    )


async def handle(context: Context, request: Request) -> bytes | Deferred | None:
    body = request.body
    acks = body.acks
    replicas = context.replicas
    now_ms = context.now_ms()
    max_expanded = context.config.message_max_decompressed_bytes
    results = []
    waiting: list[AwaitedAck] = []
    for topic_data in body.topic_data:
        name = topic_data.name
        held = replicas.replicas_of(name)
        internal = bool(held) and is_internal(name)
        answers = []
        for data in topic_data.partition_data:
            index = data.index
            if acks not in (-1, 0, 1):
                answers.append(PartitionResult(index, ErrorCode.invalid_required_acks))
                continue
            if internal:
                answers.append(
                    PartitionResult(
                        index,
                        ErrorCode.invalid_topic_exception,
                        error_message=f"{name} is an internal topic",
                    )
                )
                continue
            answers.append(
                _append(held.get(index), index, data.records, max_expanded, now_ms, acks, waiting)
            )
        results.append((name, answers))
    if waiting and not settled(waiting):  # on one node, settled at once
        replicated = _once_replicated(
            request.version, request.correlation_id, results, waiting, context.clock,
            millis(body.timeout),
        )  # fmt: skip
        return Deferred(replicated)
    return _answer(request.version, request.correlation_id, acks, results, waiting)


async def _once_replicated(
    version: int,
    correlation_id: int,
    results: list[tuple[str, list[PartitionResult]]],
    waiting: list[AwaitedAck],
    clock: Clock,
    timeout_ms: int,
) -> bytes | None:
    """The answer to an acks=all request once its ISR holds its batches (or at its timeout)."""
    await await_acks(waiting, clock, timeout_ms)
    return _answer(version, correlation_id, ALL_ACKS, results, waiting)


def _answer(
    version: int,
    correlation_id: int,
    acks: int,
    results: list[tuple[str, list[PartitionResult]]],
    waiting: list[AwaitedAck],
) -> bytes | None:
    if any(ack.error for ack in waiting):
        results = _with_ack_errors(results, waiting)
    if acks == 0:
        # acks=0 gets no response (G7); Kafka signals a failure by closing the connection.
        failed = [(name, a.index) for name, answers in results for a in answers if a.error_code]
        if failed:
            raise ProtocolError(f"acks=0 produce failed for {failed}")
        return None
    return encode_produce_response(version, correlation_id, results)


SPECS = [ApiSpec(0, "Produce", 3, 11, handle, advertised_min=0)]


def _with_ack_errors(
    results: list[tuple[str, list[PartitionResult]]], waiting: list[AwaitedAck]
) -> list[tuple[str, list[PartitionResult]]]:
    """``results`` with each acks=all partition's error once it settled (the base offset
    stays, as Kafka answers REQUEST_TIMED_OUT)."""
    errors = {(ack.replica.topic, ack.replica.index): ack.error for ack in waiting}
    return [
        (
            name,
            [
                answer._replace(error_code=error)
                if (error := errors.get((name, answer.index))) and answer.error_code == 0
                else answer
                for answer in answers
            ],
        )
        for name, answers in results
    ]


def _keyless(
    replica: Replica, index: int, records: bytes, headers: list[BatchHeader]
) -> PartitionResult | None:
    """INVALID_RECORD naming every record without a key, as Kafka's ``LogValidator`` answers
    a produce to a compacted topic; nothing of the request's batches is appended."""
    log_start = replica.log_start_offset
    try:
        found = keyless_records(records, headers)
    except InvalidRecord as exc:
        return PartitionResult(
            index, ErrorCode.invalid_record, log_start_offset=log_start, error_message=str(exc)
        )
    if not found:
        return None
    why = (
        "Compacted topic cannot accept message without key in topic partition "
        f"{replica.topic}-{replica.index}."
    )
    errors = tuple((batch_index, why) for batch_index in found)
    shown = ", ".join(f"RecordError(batchIndex={i}, message='{why}')" for i, _ in errors[:3])
    return PartitionResult(
        index,
        ErrorCode.invalid_record,
        log_start_offset=log_start,
        error_message=f"One or more records have been rejected due to {len(errors)} record "
        f"errors in total, and only showing the first three errors at most: [{shown}]",
        record_errors=errors,
    )


def _too_large(
    index: int, headers: list[BatchHeader], max_message_bytes: int, log_start: int, what: str
) -> PartitionResult | None:
    """MESSAGE_TOO_LARGE for the first batch over ``max.message.bytes``, if any."""
    for header in headers:
        if header.size > max_message_bytes:
            return PartitionResult(
                index,
                ErrorCode.message_too_large,
                log_start_offset=log_start,
                error_message=f"batch of {header.size} bytes{what} exceeds max.message.bytes"
                f"={max_message_bytes}",
            )
    return None
