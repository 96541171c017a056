"""RecordBatch v2 headers: read, validate and patch the 61-byte header, never the records.

A produce request carries one or more batches back to back. The broker checks each header and
its CRC-32C, then assigns offsets by rewriting ``baseOffset`` and ``partitionLeaderEpoch`` in
place. Both fields lie outside the CRC, so clients' CRC checks stay valid and no record is
ever decoded or re-encoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import crc32c

from broker.protocol.errors import CorruptRecord, InvalidRecord

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset (8) + batchLength (4): bytes not counted by batchLength
CRC_START = 21  # the CRC covers attributes .. end of batch
MAGIC_V2 = 2

ATTR_COMPRESSION_MASK = 0x07
ATTR_TIMESTAMP_TYPE = 0x08
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20

NO_PRODUCER_ID = -1

_BASE_OFFSET_AND_EPOCH = struct.Struct(">q")
_EPOCH = struct.Struct(">i")


@dataclass(slots=True, frozen=True)
class BatchHeader:
    """The header fields of one batch, and where it lies in its buffer."""

    position: int
    size: int  # whole batch on the wire: LOG_OVERHEAD + batchLength
    base_offset: int
    partition_leader_epoch: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def compression(self) -> int:
        return self.attributes & ATTR_COMPRESSION_MASK

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & ATTR_CONTROL)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def last_sequence(self) -> int:
        """Sequence of the batch's last record (wraps at 2**31 as Kafka's does)."""
        if self.base_sequence < 0:
            return self.base_sequence
        return (self.base_sequence + self.last_offset_delta) % (1 << 31)


def read_header(buf: bytes | bytearray | memoryview, position: int = 0) -> BatchHeader:
    """Decode the header at ``position``. Raises ``InvalidRecord`` when it does not fit."""
    end_of_header = position + HEADER_SIZE
    if end_of_header > len(buf):
        raise InvalidRecord(f"batch header at {position} is cut short")
    (
        base_offset,
        batch_length,
        epoch,
        magic,
        _crc,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count,
    ) = HEADER.unpack_from(buf, position)
    if magic != MAGIC_V2:
        raise InvalidRecord(f"batch at {position} has magic {magic}; only v2 batches are served")
    size = LOG_OVERHEAD + batch_length
    if batch_length < HEADER_SIZE - LOG_OVERHEAD or position + size > len(buf):
        raise InvalidRecord(f"batch at {position} claims {size} bytes, which do not fit")
    return BatchHeader(
        position,
        size,
        base_offset,
        epoch,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count,
    )


def crc_matches(buf: bytes | bytearray | memoryview, header: BatchHeader) -> bool:
    stored = struct.unpack_from(">I", buf, header.position + 17)[0]
    start = header.position + CRC_START
    end = header.position + header.size
    return crc32c.crc32c(memoryview(buf)[start:end]) == stored


def validate_produced(records: bytes | bytearray | memoryview) -> list[BatchHeader]:
    """Check every batch a producer sent for one partition and return their headers.

    Raises ``CorruptRecord`` for a CRC mismatch and ``InvalidRecord`` for anything else a
    producer must not send: bytes that are not whole v2 batches, control batches, unknown
    codecs, record counts that disagree with the offset deltas.
    """
    headers: list[BatchHeader] = []
    position = 0
    total = len(records)
    if total == 0:
        raise InvalidRecord("produce request carries no record batch")
    while position < total:
        header = read_header(records, position)
        if not crc_matches(records, header):
            raise CorruptRecord(f"batch at {position} fails its CRC-32C check")
        if header.is_control:
            raise InvalidRecord("producers may not send control batches")
        if header.compression > 4:
            raise InvalidRecord(f"unknown compression codec {header.compression}")
        if header.record_count < 1 or header.last_offset_delta < 0:
            raise InvalidRecord("batch holds no records")
        if header.compression == 0 and header.record_count != header.last_offset_delta + 1:
            raise InvalidRecord("record count disagrees with the batch's last offset delta")
        headers.append(header)
        position += header.size
    return headers


def validate_replicated(records: bytes | bytearray | memoryview) -> list[BatchHeader]:
    """Check the batches a leader sent a follower and return the headers of the whole ones.

    A leader may end its answer with the start of a batch cut at its byte limit (Kafka does);
    that part is left out, as Kafka's follower leaves it. Raises ``CorruptRecord`` for a CRC
    mismatch and ``InvalidRecord`` for a batch that is not v2 or claims less than a header.
    Offsets and leader epochs are the leader's and are not checked here.
    """
    headers: list[BatchHeader] = []
    position = 0
    total = len(records)
    while position + LOG_OVERHEAD <= total:
        batch_length = struct.unpack_from(">i", records, position + 8)[0]
        if position + LOG_OVERHEAD + batch_length > total:
            break  # the cut tail of the leader's answer
        header = read_header(records, position)
        if not crc_matches(records, header):
            raise CorruptRecord(f"replicated batch at {position} fails its CRC-32C check")
        headers.append(header)
        position += header.size
    return headers


def scan_valid(buf: bytes | bytearray | memoryview, *, verify_crc: bool = True):
    """Yield the headers of the leading run of whole, valid batches in ``buf``.

    Stops quietly at the first batch that is cut short, malformed or (when ``verify_crc``)
    damaged: recovery uses the position where it stopped as the end of the valid log.
    """
    position = 0
    total = len(buf)
    while position < total:
        try:
            header = read_header(buf, position)
        except InvalidRecord:
            return
        if verify_crc and not crc_matches(buf, header):
            return
        yield header
        position += header.size


def assign_offsets(
    records: bytearray, headers: list[BatchHeader], base_offset: int, leader_epoch: int
) -> int:
    """Stamp consecutive offsets and the leader epoch into each batch; return the next offset."""
    next_offset = base_offset
    for header in headers:
        _BASE_OFFSET_AND_EPOCH.pack_into(records, header.position, next_offset)
        _EPOCH.pack_into(records, header.position + 12, leader_epoch)
        next_offset += header.last_offset_delta + 1
    return next_offset
