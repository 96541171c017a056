"""The quorum's entries as Kafka v2 record batches: one batch per entry, on disk and on the wire.

An entry is a batch of one record whose value is the entry's value, with the entry's epoch as
the batch's ``partitionLeaderEpoch``, so the leader-epoch cache of the segment code and of any
reader (``kafka-dump-log.sh``) sees Raft's epochs. A leader-change entry is a control batch
holding one control record whose key is Kafka's control key (version 0, type LEADER_CHANGE,
2). Its value is the entry's value; the core leaves it empty, so the LeaderChangeMessage body
(leader id and voters) Kafka writes there is not carried: the batch's epoch is what readers use.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from broker.protocol.batch import ATTR_CONTROL, assign_offsets, crc_matches, read_header
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


def decode(data: bytes | memoryview) -> list[tuple[int, Entry]]:
    """``(offset, entry)`` for each whole batch in ``data``. Raises ``InvalidRecord`` for
    anything that is not a batch this module wrote (a damaged one, or one holding several
    records, or a control record of another type)."""
    view = memoryview(data)
    decoded: list[tuple[int, Entry]] = []
    position = 0
    while position < len(view):
        header = read_header(view, position)
        batch = view[position : position + header.size]
        position += header.size
        if not crc_matches(batch, read_header(batch)):
            raise InvalidRecord(f"metadata batch at offset {header.base_offset} fails its CRC")
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
