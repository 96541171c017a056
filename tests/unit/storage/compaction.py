"""Helpers for compaction tests: keyed writes, one cleaning pass, and reading a log back."""

from __future__ import annotations

from broker.protocol.batch import HEADER, HEADER_SIZE, read_header
from broker.protocol.compression import compress, decompress
from broker.protocol.records import Record, build_batch, read_varint, seal_batch
from broker.storage import LogConfig, PartitionLog
from broker.storage.cleaner import CleaningResult, clean, cleanable, plan, swap_in
from tests.unit.storage.record_batches import produce, read_all

COMPACTED = LogConfig(
    cleanup_policy="compact",
    segment_bytes=600,
    min_cleanable_dirty_ratio=0.01,
    delete_retention_ms=10_000,
)

Pair = tuple[bytes | None, bytes | None]


def write(log: PartitionLog, pairs: list[Pair], now_ms: int = 1_000, codec: int = 0) -> list[int]:
    """Append ``pairs`` one batch each (``codec``: compress it); return their offsets."""
    offsets = []
    for pair in pairs:
        batch = build_batch([pair], now_ms)
        if codec:
            header = read_header(batch)
            body = compress(codec, batch[HEADER_SIZE:], None)
            batch = seal_batch(
                body, count=1, timestamp=now_ms, attributes=codec | header.attributes
            )
        offsets.append(produce(log, batch, now_ms=now_ms))
    return offsets


def compact(
    log: PartitionLog, checkpoint: int | None = None, now_ms: int = 1_000, max_keys: int = 1 << 20
) -> CleaningResult | None:
    """One whole pass over ``log``, as the broker's cleaner runs it; None if nothing to do."""
    job = plan(log, cleanable(log, checkpoint, now_ms, None), now_ms, max_keys)
    if job is None:
        return None
    result = clean(job)
    assert swap_in(log, result)
    return result


def records(log: PartitionLog) -> list[Record]:
    """Every record served from the log start, compressed batches decompressed."""
    data = read_all(log)
    found: list[Record] = []
    position = 0
    while position < len(data):
        header = read_header(data, position)
        body = decompress(header.compression, data[position + HEADER_SIZE : position + header.size])
        cursor = 0
        for _ in range(header.record_count):
            length, cursor = read_varint(body, cursor)
            end = cursor + length
            timestamp_delta, cursor = read_varint(body, cursor + 1)
            offset_delta, cursor = read_varint(body, cursor)
            key_length, cursor = read_varint(body, cursor)
            key = None if key_length < 0 else body[cursor : cursor + key_length]
            cursor += max(key_length, 0)
            value_length, cursor = read_varint(body, cursor)
            value = None if value_length < 0 else body[cursor : cursor + value_length]
            found.append(
                Record(
                    header.base_offset + offset_delta,
                    header.base_timestamp + timestamp_delta,
                    key,
                    value,
                )
            )
            cursor = end
        position += header.size
    return found


def batch_spans(log: PartitionLog) -> list[tuple[int, int, int]]:
    """``(base offset, last offset, record count)`` of every stored batch."""
    data = read_all(log)
    spans, position = [], 0
    while position < len(data):
        fields = HEADER.unpack_from(data, position)
        spans.append((fields[0], fields[0] + fields[6], fields[12]))
        position += 12 + fields[1]
    return spans


def latest(pairs: list[tuple[int, Pair]]) -> dict[bytes, tuple[int, bytes | None]]:
    """Each key's last ``(offset, value)`` among ``(offset, (key, value))`` writes."""
    found: dict[bytes, tuple[int, bytes | None]] = {}
    for offset, (key, value) in pairs:
        if key is not None:
            found[key] = (offset, value)
    return found
