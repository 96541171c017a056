"""The offset and timestamp of every record in one stored batch, for ListOffsets by time.

Storage otherwise reads batch headers only; a lookup by timestamp must look inside the one
batch the time index lands on (Kafka's ``FileRecords.searchForTimestamp``), and the batch
holding the largest timestamp (``offsetOfMaxTimestamp``), decompressing it if needed
(``compression.decompress``). In a LogAppendTime batch every record has the batch's max
timestamp, whatever its own field says.
"""

from __future__ import annotations

from broker.protocol.batch import ATTR_TIMESTAMP_TYPE, HEADER_SIZE, read_header
from broker.protocol.compression import decompress
from broker.protocol.errors import InvalidRecord
from broker.protocol.records import read_varint


def record_times(batch: bytes) -> list[tuple[int, int]]:
    """``(offset, timestamp)`` of each record of ``batch``, one whole stored batch, in order.
    Raises ``InvalidRecord`` unless the records fill the batch exactly, with offsets that rise
    within its offset range."""
    header = read_header(batch)
    try:
        records = decompress(header.compression, memoryview(batch)[HEADER_SIZE:])
    except InvalidRecord as err:
        raise InvalidRecord(f"the batch at offset {header.base_offset}: {err}") from err
    log_append_time = bool(header.attributes & ATTR_TIMESTAMP_TYPE)
    found: list[tuple[int, int]] = []
    position = 0
    last_delta = -1
    for _ in range(header.record_count):
        length, position = read_varint(records, position)
        end = position + length
        position += 1  # attributes
        timestamp_delta, position = read_varint(records, position)
        offset_delta, position = read_varint(records, position)
        if (
            length < 0
            or end > len(records)
            or not last_delta < offset_delta <= header.last_offset_delta
        ):
            break
        last_delta = offset_delta
        timestamp = (
            header.max_timestamp if log_append_time else header.base_timestamp + timestamp_delta
        )
        found.append((header.base_offset + offset_delta, timestamp))
        position = end
    if position != len(records) or len(found) != header.record_count:
        raise InvalidRecord(
            f"the records of the batch at offset {header.base_offset} are malformed"
        )
    return found
