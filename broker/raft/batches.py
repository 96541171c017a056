"""The quorum's entries as Kafka v2 record batches: one batch per entry, on disk and on the wire.

An entry is a batch of one record whose value is the entry's value, with the entry's epoch as
the batch's ``partitionLeaderEpoch``, so the leader-epoch cache of the segment code and of any
reader (``kafka-dump-log.sh``) sees Raft's epochs. A leader-change entry is a control batch
holding one control record whose key is Kafka's control key (version 0, type LEADER_CHANGE,
2). Its value is the entry's value: the LeaderChangeMessage (leader id, voters, granting
voters) the core writes there, as Kafka does (``leader_change``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from broker.protocol.batch import (
    ATTR_CONTROL,
    BatchHeader,
    assign_offsets,
    crc_matches,
    read_header,
)
from broker.protocol.errors import InvalidRecord
from broker.protocol.records import build_batch, iter_records
from broker.raft.messages import Entry

CONTROL_VERSION = 0
LEADER_CHANGE = 2  # Kafka's ControlRecordType.LEADER_CHANGE
LEADER_CHANGE_KEY = struct.pack(">hh", CONTROL_VERSION, LEADER_CHANGE)


def encode(entries: Iterable[Entry], base_offset: int, timestamp: int) -> bytes:
    """The batches of ``entries``, the first at ``base_offset``, stamped ``timestamp``."""
    out = bytearray()
    offset = base_offset
    for entry in entries:
        if entry.leader_change:
            batch = bytearray(
                build_batch([(LEADER_CHANGE_KEY, entry.value)], timestamp, attributes=ATTR_CONTROL)
            )
        else:
            batch = bytearray(build_batch([(None, entry.value)], timestamp))
        offset = assign_offsets(batch, [read_header(batch)], offset, entry.epoch)
        out += batch
    return bytes(out)


def _intact_batches(
    data: bytes | memoryview, what: str
) -> Iterator[tuple[BatchHeader, memoryview]]:
    """Each batch in ``data`` with its header, once its CRC is checked. Raises
    ``InvalidRecord`` naming ``what`` for a damaged one."""
    view = memoryview(data)
    position = 0
    while position < len(view):
        header = read_header(view, position)
        batch = view[position : position + header.size]
        position += header.size
        if not crc_matches(view, header):
            raise InvalidRecord(f"{what} at offset {header.base_offset} fails its CRC")
        yield header, batch


def decode(data: bytes | memoryview) -> list[tuple[int, Entry]]:
    """``(offset, entry)`` for each whole batch in ``data``. Raises ``InvalidRecord`` for
    anything that is not a batch this module wrote (a damaged one, or one holding several
    records, or a control record of another type)."""
    decoded: list[tuple[int, Entry]] = []
    for header, batch in _intact_batches(data, "metadata batch"):
        if header.record_count != 1 or header.compression:
            raise InvalidRecord(
                f"metadata batch at offset {header.base_offset} holds {header.record_count} "
                "records or is compressed; each entry is one uncompressed record"
            )
        (record,) = iter_records(batch)
        if header.is_control and record.key != LEADER_CHANGE_KEY:
            raise InvalidRecord(f"control record at offset {record.offset} is not LEADER_CHANGE")
        entry = Entry(header.partition_leader_epoch, record.value or b"", header.is_control)
        decoded.append((record.offset, entry))
    return decoded


# ---- snapshots ---------------------------------------------------------------------------

SNAPSHOT_HEADER = 3  # Kafka's ControlRecordType.SNAPSHOT_HEADER
SNAPSHOT_FOOTER = 4  # Kafka's ControlRecordType.SNAPSHOT_FOOTER
SNAPSHOT_CHUNK = 1 << 20  # the snapshot's bytes, one record per batch of at most this many


def encode_snapshot(data: bytes, end_offset: int, epoch: int, timestamp: int) -> bytes:
    """A snapshot file's content as Kafka lays it out (KIP-630): a SnapshotHeader control
    batch, the state in batches, a SnapshotFooter control batch, at offsets from
    ``end_offset`` on, stamped with ``epoch``. The state is opaque bytes, cut in records."""
    header = struct.pack(">hqb", 0, timestamp, 0)  # version, lastContainedLogTimestamp, no tags
    footer = struct.pack(">hb", 0, 0)
    batches = [
        build_batch(
            [(struct.pack(">hh", 0, SNAPSHOT_HEADER), header)], timestamp, attributes=ATTR_CONTROL
        )
    ]
    for start in range(0, len(data), SNAPSHOT_CHUNK):
        batches.append(build_batch([(None, data[start : start + SNAPSHOT_CHUNK])], timestamp))
    batches.append(
        build_batch(
            [(struct.pack(">hh", 0, SNAPSHOT_FOOTER), footer)], timestamp, attributes=ATTR_CONTROL
        )
    )
    out = bytearray()
    offset = end_offset
    for batch in batches:
        writable = bytearray(batch)
        offset = assign_offsets(writable, [read_header(writable)], offset, epoch)
        out += writable
    return bytes(out)


def decode_snapshot(content: bytes) -> bytes:
    """The state a snapshot file holds. Raises ``InvalidRecord`` unless it is whole: a header
    first, a footer last, every batch intact."""
    chunks: list[bytes] = []
    kinds: list[int | None] = []
    for header, batch in _intact_batches(content, "snapshot batch"):
        for record in iter_records(batch):
            if header.is_control:
                kinds.append(struct.unpack(">hh", record.key or b"\0\0\0\0")[1])
            else:
                kinds.append(None)
                chunks.append(record.value or b"")
    if len(kinds) < 2 or kinds[0] != SNAPSHOT_HEADER or kinds[-1] != SNAPSHOT_FOOTER:
        raise InvalidRecord("a snapshot must start with its header and end with its footer")
    return b"".join(chunks)
