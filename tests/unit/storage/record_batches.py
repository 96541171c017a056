"""Helpers for storage tests: append as a produce request would, and read everything back.

Batches come from ``tests.support.batches.filler_batch``: storage never parses records.
"""

from __future__ import annotations

from broker.protocol.batch import HEADER, validate_produced
from broker.storage import PartitionLog
from tests.support.batches import filler_batch as make_batch

__all__ = ["make_batch", "offsets_in", "produce", "read_all"]


def produce(log: PartitionLog, *batches: bytes, epoch: int = 0, now_ms: int = 1_000) -> int:
    """Append ``batches`` as one produce request would; return the first offset."""
    records = b"".join(batches)
    return log.append(records, validate_produced(records), epoch, now_ms)


def offsets_in(data: bytes) -> list[tuple[int, int]]:
    """``(base offset, last offset)`` of each batch in ``data``, which must be whole batches."""
    spans = []
    position = 0
    while position < len(data):
        fields = HEADER.unpack_from(data, position)
        spans.append((fields[0], fields[0] + fields[6]))
        position += 12 + fields[1]
    assert position == len(data), "data does not end on a batch boundary"
    return spans


def read_all(log: PartitionLog) -> bytes:
    """Every stored batch from the log start on, read segment by segment through ``read``."""
    data = b""
    offset = log.log_start_offset
    while (piece := log.read(offset, 1 << 30, log.log_end_offset)) is not None:
        chunk = piece.read_bytes()
        data += chunk
        offset = offsets_in(chunk)[-1][1] + 1
    return data
