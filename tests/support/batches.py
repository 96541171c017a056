"""RecordBatch v2 bytes for tests: real uncompressed records (``make_batch``) that clients can
read, or filler records (``filler_batch``) with every header field under the test's control,
for storage tests that never parse records."""

from __future__ import annotations

from broker.protocol.records import build_batch, seal_batch


def make_batch(
    values: list[bytes],
    *,
    keys: list[bytes | None] | None = None,
    timestamp: int = 1_700_000_000_000,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """A batch of real records, one per value, all stamped ``timestamp``."""
    keys = keys or [None] * len(values)
    return build_batch(
        list(zip(keys, values, strict=True)),
        timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def filler_batch(
    records: int = 1,
    *,
    timestamp: int = 1_000,
    max_timestamp: int | None = None,
    record_bytes: int = 10,
    fill: bytes = b"r",
    compression: int = 0,
    last_offset_delta: int | None = None,
) -> bytes:
    """``records`` records of ``record_bytes`` filler each. With a ``compression`` codec only
    the attributes change, so ``last_offset_delta`` may differ from ``records - 1`` as after
    compaction."""
    return seal_batch(
        fill * (records * record_bytes),
        count=records,
        attributes=compression,
        timestamp=timestamp,
        max_timestamp=max_timestamp,
        last_offset_delta=last_offset_delta,
    )
