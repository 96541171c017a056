"""Idempotent-producer state of one partition, as Kafka's ``ProducerStateManager`` keeps it.

For each producer id the state holds its current epoch, the metadata of its last five batches
(first and last sequence, first and last offset, max timestamp) and the timestamp of its last
batch. ``check`` applies Kafka's rules to a produce request before it is written; ``update``
records the batches once they are. Batches with producer id -1 are not idempotent and are
ignored throughout.

The rules (``ProducerAppendInfo`` and ``UnifiedLog.analyzeAndValidateProducerState``):

* A batch with the producer's current epoch and the exact (first, last) sequence range of one
  of its last five stored batches is a duplicate. The first duplicate found makes the whole
  request a duplicate: nothing is written and the producer is answered with that batch's
  original offsets (``DuplicateBatch``). As in Kafka, the batches before it in the request are
  still validated, and any after it are not looked at.
* An epoch older than the producer's current one is refused (``InvalidProducerEpoch``).
* A new epoch must start at sequence 0, unless the producer is unknown (``OutOfOrderSequence``).
* Within an epoch the first sequence must follow the last one, wrapping from 2**31 - 1 to 0.
  An unknown producer (never seen, expired, or lost with deleted data) may start anywhere.
* Several batches of one producer in a request are checked in order, each against the state
  as it would be after the ones before it. (Kafka lets a producer that was unknown when the
  request arrived skip sequences between its batches of that request; here it may not.)

Snapshots. ``<20-digit offset>.snapshot`` in the partition directory holds the state as of
that offset: every batch below it applied, none at or above. Format, big-endian: ``CSPS``,
version (2), CRC-32C (4) of everything after it, offset (8), producer count (4); per producer
its id (8), epoch (2), last timestamp (8) and batch count (1); per batch first sequence (4),
last sequence (4), first offset (8), last offset (8), timestamp (8). A snapshot is written to
``<name>.tmp`` and renamed into place; a torn or damaged one fails its checks and is ignored.
Only the two newest are kept. Loading takes the newest valid snapshot that the log still
covers and replays the batch headers after it.
"""

from __future__ import annotations

import logging
import os
import re
import struct
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import crc32c

from broker.protocol.batch import BatchHeader
from broker.storage.checkpoint import fsync_directory
from broker.storage.errors import DuplicateBatch, InvalidProducerEpoch, OutOfOrderSequence

log = logging.getLogger("broker.storage")

NUM_BATCHES_TO_RETAIN = 5
NO_PRODUCER_EPOCH = -1
SEQUENCE_MODULUS = 1 << 31
PRODUCER_ID_EXPIRATION_MS = 86_400_000  # Kafka's producer.id.expiration.ms default
SNAPSHOTS_TO_KEEP = 2

SNAPSHOT_SUFFIX = ".snapshot"
_SNAPSHOT_FILE = re.compile(r"(\d{20})\.snapshot")
_MAGIC = b"CSPS"
_VERSION = 1
_FILE_HEADER = struct.Struct(">4sHIqI")  # magic, version, crc, offset, producer count
_CRC_FROM = 10  # the CRC covers the offset and everything after it
_PRODUCER = struct.Struct(">qhqB")  # producer id, epoch, last timestamp, batch count
_BATCH = struct.Struct(">iiqqq")  # first seq, last seq, first offset, last offset, timestamp


class BatchMetadata(NamedTuple):
    """One appended batch of a producer."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(slots=True)
class ProducerEntry:
    """One producer's state: its epoch, its last five batches (oldest first) and the max
    timestamp of its last batch, which producer-id expiration goes by (as in Kafka)."""

    producer_id: int
    epoch: int
    batches: deque[BatchMetadata] = field(
        default_factory=lambda: deque(maxlen=NUM_BATCHES_TO_RETAIN)
    )
    last_timestamp: int = -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq

    @property
    def last_offset(self) -> int:
        return self.batches[-1].last_offset

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        """The stored batch a batch with this epoch and sequence range would duplicate."""
        if epoch != self.epoch:
            return None
        for batch in self.batches:
            if batch[0] == first_seq and batch[1] == last_seq:
                return batch
        return None


class RawHeader(NamedTuple):
    """What replay needs of a stored batch header."""

    base_offset: int
    last_offset_delta: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == SEQUENCE_MODULUS - 1)


class CorruptSnapshot(Exception):
    """A snapshot file that fails its checks (internal: such a file is skipped)."""


class ProducerStateManager:
    """The producer state of one partition directory, and its snapshot files."""

    def __init__(self, directory: Path, name: str = "") -> None:
        self.directory = directory
        self.name = name or directory.name
        self._producers: dict[int, ProducerEntry] = {}
        self._snapshots: list[int] = []  # offsets of the snapshot files on disk, ascending
        self._newest_synced = False
        self.changed = False  # whether the state differs from the newest snapshot's

    # ---- reading the state --------------------------------------------------------------

    @property
    def producers(self) -> Mapping[int, ProducerEntry]:
        return MappingProxyType(self._producers)

    def entry(self, producer_id: int) -> ProducerEntry | None:
        return self._producers.get(producer_id)

    @property
    def latest_snapshot_offset(self) -> int | None:
        return self._snapshots[-1] if self._snapshots else None

    # ---- appending ----------------------------------------------------------------------

    def check(self, headers: Sequence[BatchHeader]) -> None:
        """Validate a request's batches before they are written. Raises ``DuplicateBatch``
        when the request resends a stored batch, ``InvalidProducerEpoch`` or
        ``OutOfOrderSequence`` when it must be refused; returns when it may be appended."""
        producers = self._producers
        pending: dict[int, tuple[int, int]] | None = None  # id -> (epoch, last seq) so far
        for header in headers:
            producer_id = header.producer_id
            if producer_id < 0:
                continue
            epoch = header.producer_epoch
            first_seq = header.base_sequence
            last_seq = header.last_sequence
            entry = producers.get(producer_id)
            if entry is not None:
                duplicate = entry.find_duplicate(epoch, first_seq, last_seq)
                if duplicate is not None:
                    raise DuplicateBatch(duplicate.first_offset, duplicate.last_offset)
            earlier = pending.get(producer_id) if pending else None
            if earlier is not None:
                current_epoch, current_last_seq = earlier
            elif entry is not None:
                current_epoch, current_last_seq = entry.epoch, entry.last_seq
            else:
                current_epoch, current_last_seq = NO_PRODUCER_EPOCH, -1
            if epoch < current_epoch:
                raise InvalidProducerEpoch(producer_id, epoch, current_epoch)
            if current_epoch != NO_PRODUCER_EPOCH:
                if epoch != current_epoch:
                    if first_seq != 0:
                        raise OutOfOrderSequence(producer_id, epoch, first_seq, 0)
                elif not _in_sequence(current_last_seq, first_seq):
                    expected = (current_last_seq + 1) % SEQUENCE_MODULUS
                    raise OutOfOrderSequence(producer_id, epoch, first_seq, expected)
            if pending is None:
                pending = {}
            pending[producer_id] = (epoch, last_seq)

    def update(self, headers: Sequence[BatchHeader], base_offset: int) -> None:
        """Record the idempotent batches of a request just written from ``base_offset``."""
        offset = base_offset
        for header in headers:
            last_offset = offset + header.last_offset_delta
            if header.producer_id >= 0:
                self._apply(
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    header.last_sequence,
                    offset,
                    last_offset,
                    header.max_timestamp,
                )
            offset = last_offset + 1

    def _apply(
        self,
        producer_id: int,
        epoch: int,
        first_seq: int,
        last_seq: int,
        first_offset: int,
        last_offset: int,
        timestamp: int,
    ) -> None:
        entry = self._producers.get(producer_id)
        if entry is None:
            entry = self._producers[producer_id] = ProducerEntry(producer_id, epoch)
        elif entry.epoch != epoch:
            entry.epoch = epoch
            entry.batches.clear()
        batch = BatchMetadata(first_seq, last_seq, first_offset, last_offset, timestamp)
        entry.batches.append(batch)
        entry.last_timestamp = timestamp
        self.changed = True

    def replay(self, headers: Iterable[RawHeader]) -> int:
        """Apply stored batches, oldest first, without checks (as Kafka replays its log);
        returns how many were idempotent."""
        applied = 0
        for base_offset, delta, max_timestamp, producer_id, epoch, first_seq in headers:
            if producer_id < 0:
                continue
            last_seq = first_seq if first_seq < 0 else (first_seq + delta) % SEQUENCE_MODULUS
            self._apply(
                producer_id, epoch, first_seq, last_seq, base_offset, base_offset + delta,
                max_timestamp,
            )  # fmt: skip
            applied += 1
        return applied

    # ---- expiration and truncation ------------------------------------------------------

    def remove_expired(self, now_ms: int, expiration_ms: int = PRODUCER_ID_EXPIRATION_MS) -> int:
        """Forget producers whose last batch's timestamp is ``expiration_ms`` or more before
        ``now_ms`` (Kafka's ``removeExpiredProducers``); returns how many went."""
        expired = [
            producer_id
            for producer_id, entry in self._producers.items()
            if now_ms - entry.last_timestamp >= expiration_ms
        ]
        for producer_id in expired:
            del self._producers[producer_id]
        if expired:
            self.changed = True
        return len(expired)

    def holds_offsets_from(self, offset: int) -> bool:
        """Whether any batch at or after ``offset`` has been applied."""
        return any(entry.last_offset >= offset for entry in self._producers.values())

    # ---- snapshots ----------------------------------------------------------------------

    def load(self, first_offset: int, end_offset: int) -> int:
        """Replace the state with the newest valid snapshot in ``[first_offset, end_offset]``
        (the offsets the log holds) and return its offset: the caller replays the batches
        from there to ``end_offset``. Without one the state is empty and ``first_offset`` is
        returned. Snapshots outside that range, damaged ones and stray ``.tmp`` files are
        deleted."""
        self._producers.clear()
        offsets = []
        for path in self.directory.iterdir():
            if path.name.endswith(SNAPSHOT_SUFFIX + ".tmp"):
                path.unlink(missing_ok=True)
            elif match := _SNAPSHOT_FILE.fullmatch(path.name):
                offsets.append(int(match[1]))
        offsets.sort()
        removed = False
        for offset in offsets:
            if not first_offset <= offset <= end_offset:
                log.debug("%s: deleting producer snapshot %d: outside the log", self.name, offset)
                snapshot_path(self.directory, offset).unlink(missing_ok=True)
                removed = True
        self._snapshots = [o for o in offsets if first_offset <= o <= end_offset]
        start = first_offset
        while self._snapshots:
            offset = self._snapshots[-1]
            path = snapshot_path(self.directory, offset)
            try:
                self._producers = _read_snapshot(path, offset)
            except (CorruptSnapshot, OSError) as err:
                log.warning("%s: ignoring producer snapshot %s: %s", self.name, path.name, err)
                self._snapshots.pop()
                path.unlink(missing_ok=True)
                removed = True
                continue
            start = offset
            break
        if removed:
            fsync_directory(self.directory)
        self._newest_synced = False  # it may be a crashed broker's unsynced write
        self.changed = False
        return start

    def take_snapshot(self, offset: int, *, sync: bool) -> None:
        """Write the state as of ``offset`` (the log end offset) to ``<offset>.snapshot`` and
        delete all but the two newest snapshots. With ``sync`` the file and the directory are
        fsynced. A failure to write is logged, not raised: snapshots only shorten replay."""
        snapshots = self._snapshots
        if snapshots and snapshots[-1] == offset and not self.changed:
            if sync and not self._newest_synced:
                self._sync_newest()
            return
        path = snapshot_path(self.directory, offset)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as file:
                file.write(_encode_snapshot(self._producers, offset))
                if sync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(tmp, path)
            if offset not in snapshots:
                snapshots.append(offset)
                snapshots.sort()
            while len(snapshots) > SNAPSHOTS_TO_KEEP:
                snapshot_path(self.directory, snapshots.pop(0)).unlink(missing_ok=True)
            if sync:
                fsync_directory(self.directory)
        except OSError as err:
            log.warning("%s: cannot write producer snapshot %s: %s", self.name, path.name, err)
            tmp.unlink(missing_ok=True)
            return
        self._newest_synced = sync and snapshots[-1] == offset
        self.changed = False

    def _sync_newest(self) -> None:
        try:
            fd = os.open(snapshot_path(self.directory, self._snapshots[-1]), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_directory(self.directory)
        except OSError as err:
            log.warning("%s: cannot fsync producer snapshot: %s", self.name, err)
            return
        self._newest_synced = True

    def delete_snapshots_from(self, offset: int) -> None:
        """After a truncation to ``offset``: snapshots above it describe data that is gone."""
        while self._snapshots and self._snapshots[-1] > offset:
            snapshot_path(self.directory, self._snapshots.pop()).unlink(missing_ok=True)

    def delete_snapshots_below(self, offset: int) -> None:
        """After retention: snapshots below the first segment can no longer be replayed."""
        while self._snapshots and self._snapshots[0] < offset:
            snapshot_path(self.directory, self._snapshots.pop(0)).unlink(missing_ok=True)


def _encode_snapshot(producers: Mapping[int, ProducerEntry], offset: int) -> bytes:
    parts = [struct.pack(">qI", offset, len(producers))]
    pack_producer = _PRODUCER.pack
    pack_batch = _BATCH.pack
    for entry in producers.values():
        batches = entry.batches
        parts.append(
            pack_producer(entry.producer_id, entry.epoch, entry.last_timestamp, len(batches))
        )
        parts.extend(pack_batch(*batch) for batch in batches)
    body = b"".join(parts)
    return struct.pack(">4sHI", _MAGIC, _VERSION, crc32c.crc32c(body)) + body


def _read_snapshot(path: Path, offset: int) -> dict[int, ProducerEntry]:
    data = path.read_bytes()
    if len(data) < _FILE_HEADER.size:
        raise CorruptSnapshot(f"it is cut short at {len(data)} bytes")
    magic, version, crc, stored_offset, count = _FILE_HEADER.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise CorruptSnapshot(f"unknown magic {magic!r} or version {version}")
    if crc32c.crc32c(memoryview(data)[_CRC_FROM:]) != crc:
        raise CorruptSnapshot("its CRC-32C does not match")
    if stored_offset != offset:
        raise CorruptSnapshot(f"it holds the state at offset {stored_offset}")
    producers: dict[int, ProducerEntry] = {}
    position = _FILE_HEADER.size
    try:
        for _ in range(count):
            producer_id, epoch, last_timestamp, n = _PRODUCER.unpack_from(data, position)
            position += _PRODUCER.size
            if not 1 <= n <= NUM_BATCHES_TO_RETAIN or producer_id < 0:
                raise CorruptSnapshot(f"producer {producer_id} has {n} batches")
            entry = ProducerEntry(producer_id, epoch, last_timestamp=last_timestamp)
            for _ in range(n):
                entry.batches.append(BatchMetadata._make(_BATCH.unpack_from(data, position)))
                position += _BATCH.size
            producers[producer_id] = entry
    except struct.error as err:
        raise CorruptSnapshot(f"it is cut short: {err}") from None
    if position != len(data):
        raise CorruptSnapshot(f"{len(data) - position} bytes follow its last entry")
    return producers
