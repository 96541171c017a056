"""FetchResponse v4-v15 encoder: the response frame as parts to write in order, for sendfile.

This module owns the wire encoding of the broker's Fetch answers: the int32 frame size, the
response header (v0, or v1 with empty tagged fields for the flexible v12+) and the body; from
v13 a topic is named by its id (a ``uuid.UUID``) instead of its name. A
partition's records are null, bytes, or a *region*: any object with an integer ``length``
that is not bytes-like, such as the storage layer's file slice, which the network layer sends
with sendfile. Regions are never read or copied here; only their length is counted.

The result is a list of parts. Consecutive bytes are coalesced into one ``bytes`` object and
each region appears as its own item, unchanged, so the list alternates bytes, region, bytes,
... and always starts with bytes that begin with the frame size. A region of length 0 adds no
bytes to the response and is left out of the list (sendfile refuses a count of 0).
Substituting every region by the bytes it stands for gives exactly what kio 0.6.5's
``entity_writer`` writes for the same content. ``aborted_transactions`` is always null; the
one tagged field written is a partition's ``diverging_epoch`` (v12+, KIP-320), for followers.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from broker.protocol.varint import uvarint

MIN_VERSION = 4
MAX_VERSION = 15
_FLEXIBLE = 12
_TOPIC_IDS = 13


class Region(Protocol):
    """Record bytes held elsewhere (a file slice); the encoder only needs their count."""

    @property
    def length(self) -> int: ...


class FetchPartition(NamedTuple):
    """One partition of a Fetch answer.

    ``records`` is None (null), bytes-like (a memoryview must have format ``B``) or a region.
    It defaults to empty, not null: Kafka answers a partition with nothing to return with
    empty records, and kafka-python cannot parse null ones.
    ``log_start_offset`` is sent from v5 and ``preferred_read_replica`` from v11; older
    versions drop them. ``diverging_epoch`` ``(epoch, end offset)`` tells a follower where
    its log leaves the leader's; it is a v12 tagged field, written as Kafka writes it: only
    when it differs from ``(-1, -1)``.
    """

    index: int
    error_code: int = 0
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: bytes | Region | None = b""
    preferred_read_replica: int = -1
    diverging_epoch: tuple[int, int] | None = None


_BYTES_LIKE = (bytes, bytearray, memoryview)

# Frame size, correlation id, throttle_time_ms and topic count (v4-v6).
_HEAD_V4 = struct.Struct(">iiii")
# Frame size, correlation id, throttle_time_ms, error_code, session_id and topic count (v7+).
_HEAD_V7 = struct.Struct(">iiihii")
# Frame size, correlation id, header tags (0), throttle_time_ms, error_code, session_id (v12+);
# the compact topic count follows.
_HEAD_FLEXIBLE = struct.Struct(">iiBihi")
_TOPIC_NAME_LENGTH = struct.Struct(">h")
_COUNT = struct.Struct(">i")
# index, error_code, high_watermark, last_stable_offset, aborted_transactions (-1 = null),
# records length (-1 = null)
_PARTITION_V4 = struct.Struct(">ihqqii")
# index, error_code, high_watermark, last_stable_offset, log_start_offset, aborted (-1),
# records length
_PARTITION_V5 = struct.Struct(">ihqqqii")
# ... as v5, with preferred_read_replica before the records length
_PARTITION_V11 = struct.Struct(">ihqqqiii")
# index, error_code, high_watermark, last_stable_offset, log_start_offset, aborted (compact
# null: 0), preferred_read_replica; the compact records length follows
_PARTITION_FLEXIBLE = struct.Struct(">ihqqqBi")
_NO_TAGGED_FIELDS = b"\x00"
# One tagged field, tag 0 (diverging_epoch), 13 bytes: epoch, end_offset, its own empty tags.
_DIVERGING_EPOCH = struct.Struct(">BBBiqB")
_UNDEFINED_EPOCH_END = (-1, -1)


def encode_fetch_response(
    version: int,
    correlation_id: int,
    topics: Sequence[tuple[str | uuid.UUID, Sequence[FetchPartition]]],
    throttle_time_ms: int = 0,
    error_code: int = 0,
    session_id: int = 0,
) -> list[bytes | Region]:
    """Return the FetchResponse frame for ``version`` as parts to write in order.

    ``error_code`` and ``session_id`` are sent from v7.
    """
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError(f"FetchResponse v{version} is not supported")
    flexible = version >= _FLEXIBLE
    by_id = version >= _TOPIC_IDS
    # Bytes are gathered in runs, joined at each region. The first run is joined last, once
    # its head (index 0) can be packed with the frame size; ``out[0]`` waits for it.
    head = run = [b""]
    out: list[bytes | Region] = [b""]
    later_bytes = 0  # bytes in regions and in runs already joined
    append = run.append
    if flexible:
        append(uvarint(len(topics) + 1))
    for topic, partitions in topics:
        if isinstance(topic, uuid.UUID):
            if not by_id:
                raise ValueError(f"FetchResponse v{version} names topics, not ids")
            append(topic.bytes)
            append(uvarint(len(partitions) + 1))
        elif by_id:
            raise ValueError(f"FetchResponse v{version} names topics by id")
        elif flexible:
            name_bytes = topic.encode()
            append(uvarint(len(name_bytes) + 1))
            append(name_bytes)
            append(uvarint(len(partitions) + 1))
        else:
            name_bytes = topic.encode()
            append(_TOPIC_NAME_LENGTH.pack(len(name_bytes)))
            append(name_bytes)
            append(_COUNT.pack(len(partitions)))
        for index, error, high, stable, start, records, replica, diverging in partitions:
            data = region = None
            if records is None:
                size = -1
            elif isinstance(records, _BYTES_LIKE):
                data = records
                size = len(data)
            else:
                region = records
                size = region.length
                if size < 0:
                    raise ValueError(f"region {region!r} has a negative length")
            if flexible:
                append(_PARTITION_FLEXIBLE.pack(index, error, high, stable, start, 0, replica))
                append(uvarint(size + 1))
            elif version >= 11:
                append(_PARTITION_V11.pack(index, error, high, stable, start, -1, replica, size))
            elif version >= 5:
                append(_PARTITION_V5.pack(index, error, high, stable, start, -1, size))
            else:
                append(_PARTITION_V4.pack(index, error, high, stable, -1, size))
            if data:
                append(data)
            elif region is not None and size:
                if run is not head:
                    joined = b"".join(run)
                    out.append(joined)
                    later_bytes += len(joined)
                out.append(region)
                later_bytes += size
                run = []
                append = run.append
            if flexible:
                if diverging is None or diverging == _UNDEFINED_EPOCH_END:
                    append(_NO_TAGGED_FIELDS)
                else:
                    append(_DIVERGING_EPOCH.pack(1, 0, 13, *diverging, 0))
        if flexible:
            append(_NO_TAGGED_FIELDS)
    if flexible:
        append(_NO_TAGGED_FIELDS)
    if run and run is not head:  # the last run is empty when a v4-v11 frame ends in a region
        joined = b"".join(run)
        out.append(joined)
        later_bytes += len(joined)

    # The size counts everything after itself: the head's fixed fields plus all the rest.
    size = sum(map(len, head)) + later_bytes
    if flexible:
        head[0] = _HEAD_FLEXIBLE.pack(
            size + 15, correlation_id, 0, throttle_time_ms, error_code, session_id
        )
    elif version >= 7:
        head[0] = _HEAD_V7.pack(
            size + 18, correlation_id, throttle_time_ms, error_code, session_id, len(topics)
        )
    else:
        head[0] = _HEAD_V4.pack(size + 12, correlation_id, throttle_time_ms, len(topics))
    out[0] = b"".join(head)
    return out
