"""Committed offsets and group metadata, kept in ``__consumer_offsets`` as Kafka keeps them.

A group lives in partition ``partition_for(group_id)`` (Kafka's hash of the group id over
``offsets.topic.num.partitions``); a store holds some of those partitions (all of them on one
node, one per coordinator shard in a cluster). Each write is one uncompressed batch of
Kafka-format records (see ``codec``), appended as an acks=all produce would be, with one
``write`` to the OS before ``write`` returns, so it survives a SIGKILL of the broker (not a
power cut: flushing follows the topic's flush policy). ``write`` answers with what the high
watermark must reach for the batch to be committed (``broker.replica.purgatory``); on one node
that is so at once. ``replay`` reads every partition from its log start to its high watermark
and keeps the newest value per key.

No compaction: the internal log only grows, by roughly 100 bytes per committed partition and
a few hundred per rebalance. That is fine for classroom-sized use. Create the topic with
``cleanup.policy=compact`` so that retention never deletes it.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from kio.schema.errors import ErrorCode

from broker.groups.codec import (
    CodecError,
    GroupValue,
    OffsetKey,
    OffsetValue,
    RecordKey,
    RecordValue,
    decode_group_value,
    decode_key,
    decode_offset_value,
    encode_key,
    encode_value,
)
from broker.protocol.batch import scan_valid, validate_produced
from broker.protocol.records import Record, build_batch, iter_records
from broker.replica.purgatory import AwaitedAck
from broker.replica.replica import ALL_ACKS, Replica, ReplicaError
from broker.storage.errors import StorageError

log = logging.getLogger("broker.groups")

OFFSETS_TOPIC = "__consumer_offsets"
_READ_BYTES = 1 << 20


def java_string_hashcode(value: str) -> int:
    """Java's ``String.hashCode``: ``s[0]*31^(n-1) + ... + s[n-1]`` over UTF-16 code units,
    as a signed 32-bit int."""
    result = 0
    for (unit,) in struct.iter_unpack(">H", value.encode("utf-16-be", "surrogatepass")):
        result = (31 * result + unit) & 0xFFFFFFFF
    return result - (1 << 32) if result & 0x80000000 else result


class StoreError(Exception):
    """A write to ``__consumer_offsets`` failed; nothing of it should be trusted as stored.
    ``code`` is the error a produce of it would have been answered with."""

    def __init__(self, message: str, code: ErrorCode) -> None:
        super().__init__(message)
        self.code = code


class StoredState(NamedTuple):
    """What ``replay`` found: the newest value per key, tombstoned keys left out."""

    offsets: dict[OffsetKey, OffsetValue]
    groups: dict[str, GroupValue]


def partition_for(group_id: str, num_partitions: int) -> int:
    """Kafka's ``abs(groupId.hashCode) % partitions`` (``abs`` being ``& 0x7fffffff``)."""
    return (java_string_hashcode(group_id) & 0x7FFFFFFF) % num_partitions


class OffsetStore:
    """``partitions`` of ``__consumer_offsets`` held here, of ``num_partitions`` in all (by
    default, the topic is these partitions)."""

    def __init__(
        self,
        partitions: Sequence[Replica],
        now_ms: Callable[[], int],
        num_partitions: int | None = None,
    ) -> None:
        if not partitions:
            raise ValueError(f"{OFFSETS_TOPIC} needs at least one partition")
        self._partitions = {partition.index: partition for partition in partitions}
        self.num_partitions = len(partitions) if num_partitions is None else num_partitions
        self.now_ms = now_ms

    def partition_for(self, group_id: str) -> int:
        """The partition that holds ``group_id``."""
        return partition_for(group_id, self.num_partitions)

    def write(
        self, group_id: str, records: Sequence[tuple[RecordKey, RecordValue | None]]
    ) -> AwaitedAck:
        """Append ``records`` of ``group_id`` as one batch (a None value is a tombstone);
        returns what the batch waits for to be committed. Raises ``StoreError`` when the
        partition cannot take them (not held or not led here, too small an ISR, a storage
        failure)."""
        partition = self._partitions.get(self.partition_for(group_id))
        if partition is None:
            raise StoreError(
                f"group {group_id!r} is not in a partition held here",
                ErrorCode.not_leader_or_follower,
            )
        now = self.now_ms()
        batch = build_batch(
            [
                (encode_key(key), None if value is None else encode_value(value))
                for key, value in records
            ],
            now,
        )
        where = f"cannot write group {group_id!r} to {partition.topic}-{partition.index}"
        try:
            partition.append(batch, validate_produced(batch), now, ALL_ACKS)
        except ReplicaError as err:
            raise StoreError(f"{where}: {err}", err.code) from err
        except (OSError, StorageError) as err:
            raise StoreError(f"{where}: {err}", ErrorCode.kafka_storage_error) from err
        return AwaitedAck(partition, partition.log_end_offset)

    def replay(self) -> StoredState:
        """The newest committed offsets and group metadata in every partition. Records that
        cannot be decoded are skipped with a warning."""
        state = StoredState({}, {})
        for _, partition in sorted(self._partitions.items()):
            for record in _records(partition):
                try:
                    _apply(record, state)
                except CodecError as err:
                    log.warning(
                        "%s-%d offset %d: skipped a record that is not a group record: %s",
                        partition.topic,
                        partition.index,
                        record.offset,
                        err,
                    )
        return state


def _apply(record: Record, state: StoredState) -> None:
    if record.key is None:
        raise CodecError("record has no key")
    key = decode_key(record.key)
    if isinstance(key, OffsetKey):
        if record.value is None:
            state.offsets.pop(key, None)
        else:
            state.offsets[key] = decode_offset_value(record.value)
    elif record.value is None:
        state.groups.pop(key.group, None)
    else:
        state.groups[key.group] = decode_group_value(record.value)


def _records(partition: Replica) -> Iterator[Record]:
    offset = partition.log_start_offset
    end = partition.high_watermark
    while offset < end:
        chunk = partition.read(offset, _READ_BYTES)
        if chunk is None:
            return
        data = chunk.read_bytes()
        yield from iter_records(data)
        *_, last = scan_valid(data, verify_crc=False)
        offset = last.last_offset + 1
