"""Log compaction, as Kafka's log cleaner does it: keep the latest record of every key.

A log is compacted when its cleanup.policy holds ``compact``. Its offsets from the log start to
the cleaner checkpoint (``<root>/cleaner-offset-checkpoint``, Kafka's file) are *clean*: already
compacted. From there to the *first uncleanable offset* they are *dirty*. That offset is the
base of the first segment that is the active one, or reaches past the high watermark, or
holds a record newer than ``min.compaction.lag.ms``: only whole segments are cleaned, never
the active one. ``grab_filthiest`` picks the compacted log with the largest dirty ratio (dirty
bytes over clean plus dirty bytes) above ``min.cleanable.dirty.ratio``, or one holding a
dirty record older than ``max.compaction.lag.ms`` (``LogConfig.max_segment_ms`` also rolls its
active segment by then).

One pass over one log, in three steps:

- ``plan`` (the broker's thread; in-memory facts only) fixes the segments and settings.
- ``clean`` (anywhere: the broker runs it in a cleaner process, off the event loop) builds the
  offset map, each key to its latest offset in the dirty range (at most ``max_keys`` keys, the
  dirty range then ending at a segment boundary, as Kafka's map does); then rewrites every
  segment below the map's end, in groups of consecutive segments that fit one segment
  (segment.bytes), each group into one ``<base>.log.cleaned`` segment (``swap``).
- ``swap_in`` (the broker's thread) checks that the log still holds exactly the segments that
  were read (retention or a truncation may have changed them: then the pass is dropped) and
  swaps each cleaned segment in, in ``swap``'s crash-safe order.

What a pass keeps, record by record (Kafka's ``Cleaner.shouldRetainRecord``): a record with a
key whose latest offset in the map is higher goes; a record without a key goes; a tombstone
(null value) stays until ``delete.retention.ms`` after the pass that first saw it. That pass
writes its batch again with the delete horizon (``now + delete.retention.ms``) as the batch's
base timestamp and attribute bit 0x40 (KIP-534; record timestamps stay what they were); a
later pass past the horizon drops it. Batches whose records all stay are copied byte for byte.

Offsets never change: a rewritten batch keeps its base offset, last offset delta, leader epoch,
producer id, epoch and base sequence. Kafka leaves gaps where whole batches went; this log's
segments hold no gap (recovery, replication and reads rely on it), so a run of whole batches
that went becomes one empty batch (no records, producer id -1) spanning their offsets, as
readers already meet in Kafka's logs. An idempotent producer's last batch stays, emptied if
need be (Kafka's ``RETAIN_EMPTY``), so its sequence survives a reload. Control batches stay.

Every batch read is CRC-32C checked; a damaged one stops the pass (``CleanerError``) and the
log is not cleaned again until the broker restarts, as Kafka marks a partition uncleanable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import crc32c

from broker.protocol.batch import (
    ATTR_COMPRESSION_MASK,
    ATTR_CONTROL,
    CRC_START,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_V2,
    read_header,
)
from broker.protocol.compression import compress, decompress
from broker.protocol.errors import InvalidRecord
from broker.protocol.records import read_varint, seal_batch, zigzag_varint
from broker.storage import faults, swap
from broker.storage.checkpoint import fsync_directory
from broker.storage.config import INT_MAX, LogConfig
from broker.storage.errors import StorageError
from broker.storage.log import PartitionLog
from broker.storage.segment import Segment

log = logging.getLogger("broker.storage.cleaner")

CLEANER_CHECKPOINT = "cleaner-offset-checkpoint"
ATTR_DELETE_HORIZON = 0x40  # KIP-534: the base timestamp is the tombstones' delete horizon
# Kafka sizes its offset map in bytes (log.cleaner.dedupe.buffer.size, 24 bytes a key at a
# 0.9 load factor); this map is a dict, so the same count of keys takes more memory.
BYTES_PER_KEY = 24
MAP_LOAD_FACTOR = 0.9
_CHUNK_BYTES = 1 << 20  # cleaned batches written to the new segment this many at a time


class CleanerError(StorageError):
    """A pass could not clean a log (a damaged batch, unreadable records)."""


def max_keys_for(dedupe_buffer_size: int) -> int:
    """How many keys an offset map of ``dedupe_buffer_size`` bytes holds, as Kafka counts."""
    return max(1, int(dedupe_buffer_size // BYTES_PER_KEY * MAP_LOAD_FACTOR))


# ---- choosing what to clean ---------------------------------------------------------------


@dataclass(frozen=True)
class Cleanable:
    """A compacted log's clean and dirty ranges, as ``grab_filthiest`` weighs them."""

    first_dirty: int
    first_uncleanable: int
    clean_bytes: int
    dirty_bytes: int
    overdue: bool  # a dirty record is older than max.compaction.lag.ms

    @property
    def ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0


def cleanable(
    partition_log: PartitionLog, checkpoint: int | None, now_ms: int, high_watermark: int | None
) -> Cleanable:
    """Where ``partition_log``'s dirty range lies, from its cleaner ``checkpoint`` (the log
    start when it has none or it lies outside the log, as in Kafka)."""
    config = partition_log.config
    first_dirty = checkpoint if checkpoint is not None else partition_log.log_start_offset
    if not partition_log.log_start_offset <= first_dirty <= partition_log.log_end_offset:
        first_dirty = partition_log.log_start_offset
    limit = partition_log.log_end_offset if high_watermark is None else high_watermark
    segments = partition_log.segments
    first_uncleanable = segments[-1].base_offset
    clean_bytes = dirty_bytes = 0
    overdue = False
    for segment in segments[:-1]:
        if segment.next_offset <= first_dirty:
            clean_bytes += segment.size
            continue
        newest = segment.largest_timestamp()
        if segment.next_offset > limit or now_ms - newest < config.min_compaction_lag_ms:
            first_uncleanable = segment.base_offset
            break
        dirty_bytes += segment.size
        if not overdue:
            first = segment.peek(0)
            oldest = first.max_timestamp if first and first.max_timestamp >= 0 else newest
            overdue = now_ms - oldest > config.max_compaction_lag_ms
    first_uncleanable = max(first_uncleanable, first_dirty)
    return Cleanable(first_dirty, first_uncleanable, clean_bytes, dirty_bytes, overdue)


def grab_filthiest(
    logs: Mapping[tuple[str, int], PartitionLog],
    checkpoints: Mapping[tuple[str, int], int],
    now_ms: int,
    high_watermarks: Mapping[tuple[str, int], int],
    skip: Collection[tuple[str, int]] = (),
) -> tuple[tuple[str, int], Cleanable] | None:
    """The compacted log most in need of cleaning, or None (Kafka's
    ``LogCleanerManager.grabFilthiestCompactedLog``)."""
    best: tuple[tuple[str, int], Cleanable] | None = None
    for key, partition_log in logs.items():
        config = partition_log.config
        if not config.compacts or key in skip:
            continue
        found = cleanable(partition_log, checkpoints.get(key), now_ms, high_watermarks.get(key))
        if found.dirty_bytes == 0:
            continue
        if not (found.overdue or found.ratio > config.min_cleanable_dirty_ratio):
            continue
        if best is None or found.ratio > best[1].ratio:
            best = (key, found)
    return best


# ---- one pass -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentFacts:
    base_offset: int
    next_offset: int
    size: int


@dataclass(frozen=True)
class CleaningJob:
    """What ``clean`` needs, all of it plain data (it crosses to the cleaner process)."""

    directory: Path
    name: str
    config: LogConfig
    segments: tuple[SegmentFacts, ...]  # from the log's first segment up to first_uncleanable
    first_dirty: int
    now_ms: int
    producer_last_offsets: Mapping[int, int]  # each producer id's last batch's last offset
    max_keys: int
    in_child: bool = False  # a fault point kills the broker, the cleaner's parent


@dataclass(frozen=True)
class CleanedSegment:
    """A ``.cleaned`` segment and the old segments (base offset, size) it replaces."""

    base_offset: int
    next_offset: int
    size: int
    replaces: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class CleaningResult:
    cleaned: tuple[CleanedSegment, ...]
    dirty_end: int  # the new cleaner checkpoint: the offset map's end
    bytes_read: int
    bytes_written: int
    records_read: int
    records_kept: int
    seconds: float


def plan(
    partition_log: PartitionLog, found: Cleanable, now_ms: int, max_keys: int
) -> CleaningJob | None:
    """A job cleaning ``partition_log`` up to ``found.first_uncleanable``, or None when no
    whole segment lies below it."""
    segments = tuple(
        SegmentFacts(s.base_offset, s.next_offset, s.size)
        for s in partition_log.segments[:-1]
        if s.next_offset <= found.first_uncleanable
    )
    if not segments or segments[-1].next_offset <= found.first_dirty:
        return None
    producers = partition_log.producer_state.producers
    return CleaningJob(
        partition_log.directory,
        partition_log.name,
        partition_log.config,
        segments,
        found.first_dirty,
        now_ms,
        {pid: entry.last_offset for pid, entry in producers.items() if entry.batches},
        max_keys,
    )


def clean(job: CleaningJob) -> CleaningResult:
    """Build the offset map and write the cleaned segments (see the module's docstring).
    Reads only segments the log no longer appends to and writes only ``.cleaned`` files."""
    started = time.monotonic()
    stats = _Stats()
    offsets, dirty_end = _build_offset_map(job)
    segments = [s for s in job.segments if s.base_offset < dirty_end]
    cleaned: list[CleanedSegment] = []
    try:
        for group in _group_by_size(segments, job.config):
            cleaned.append(_clean_group(job, group, offsets, stats))
    except BaseException:
        for done in cleaned:
            swap.discard(job.directory, done.base_offset, swap.CLEANED)
        raise
    return CleaningResult(
        tuple(cleaned),
        dirty_end,
        stats.bytes_read,
        stats.bytes_written,
        stats.records_read,
        stats.records_kept,
        time.monotonic() - started,
    )


def swap_in(partition_log: PartitionLog, result: CleaningResult) -> bool:
    """Put the cleaned segments in place of the old ones, or drop them all (returning False)
    if the log no longer holds exactly the segments that were read."""
    directory = partition_log.directory
    current = {s.base_offset: s for s in partition_log.segments[:-1]}
    groups: list[list[Segment]] = []
    for cleaned in result.cleaned:
        old = [current[base] for base, size in cleaned.replaces if base in current]
        if [(s.base_offset, s.size) for s in old] != list(cleaned.replaces):
            discard(partition_log, result)
            log.info("%s: dropped a cleaning pass: the log changed meanwhile", partition_log.name)
            return False
        groups.append(old)
    for cleaned, old in zip(result.cleaned, groups, strict=True):
        base = cleaned.base_offset
        swap.rename(directory, base, swap.CLEANED, swap.SWAP)
        if faults.ARMED:
            faults.reached("clean-swap")
        for segment in old:
            segment.delete()
        fsync_directory(directory)
        if faults.ARMED:
            faults.reached("clean-replace")
        swap.rename(directory, base, swap.SWAP, "")
        new = Segment.open(directory, base, partition_log.config)
        if new.problem is not None:  # written and fsynced whole: cannot happen, but never serve it
            new.recover()
        partition_log.replace_segments(old, new)
    return True


def discard(partition_log: PartitionLog, result: CleaningResult) -> None:
    """Delete a pass's ``.cleaned`` files."""
    for cleaned in result.cleaned:
        swap.discard(partition_log.directory, cleaned.base_offset, swap.CLEANED)


# ---- inside a pass ------------------------------------------------------------------------


class _Stats:
    def __init__(self) -> None:
        self.bytes_read = self.bytes_written = self.records_read = self.records_kept = 0


@dataclass(slots=True)
class _Record:
    start: int  # where its length varint starts in the records
    end: int
    offset: int
    key: bytes | None
    tombstone: bool
    delta_at: int  # where its timestamp delta starts
    after_delta: int  # where its offset delta starts
    timestamp_delta: int


@dataclass(slots=True)
class _Batch:
    data: memoryview  # the whole stored batch
    base_offset: int
    last_offset: int
    epoch: int
    attributes: int
    max_timestamp: int

    @property
    def records_bytes(self) -> bytes:
        codec = self.attributes & ATTR_COMPRESSION_MASK
        payload = self.data[HEADER_SIZE:]
        return decompress(codec, payload) if codec else bytes(payload)


def _batches(
    directory: Path, segment: SegmentFacts, stats: _Stats | None = None
) -> Iterator[_Batch]:
    """The stored batches of a segment, each CRC-checked, read a buffer at a time; their bytes
    count in ``stats`` when given (the pass's figure: bytes cleaned, not mapped)."""
    path = directory / f"{segment.base_offset:020d}.log"
    with open(path, "rb", buffering=_CHUNK_BYTES) as file:
        position = 0
        while position < segment.size:
            head = file.read(HEADER_SIZE)
            fields = HEADER.unpack(head) if len(head) == HEADER_SIZE else None
            size = LOG_OVERHEAD + fields[1] if fields else 0
            data = head + file.read(size - HEADER_SIZE) if fields else b""
            if (
                fields is None
                or fields[3] != MAGIC_V2
                or size < HEADER_SIZE
                or len(data) != size
                or crc32c.crc32c(memoryview(data)[CRC_START:]) != fields[4]
            ):
                raise CleanerError(
                    f"{path.parent.name}: the batch at position {position} of {path.name} "
                    "is damaged (CRC-32C or length); the log will not be cleaned"
                )
            if stats is not None:
                stats.bytes_read += size
            yield _Batch(
                memoryview(data),
                fields[0],
                fields[0] + fields[6],
                fields[2],
                fields[5],
                fields[8],
            )
            position += size


def _records(batch: _Batch, records: bytes, count: int) -> list[_Record]:
    found: list[_Record] = []
    position = 0
    try:
        for _ in range(count):
            length, body = read_varint(records, position)
            end = body + length
            timestamp_delta, after_delta = read_varint(records, body + 1)
            offset_delta, cursor = read_varint(records, after_delta)
            key_length, cursor = read_varint(records, cursor)
            key = None if key_length < 0 else records[cursor : cursor + key_length]
            value_length, _ = read_varint(records, cursor + max(key_length, 0))
            found.append(
                _Record(
                    position,
                    end,
                    batch.base_offset + offset_delta,
                    key,
                    value_length < 0,
                    body + 1,
                    after_delta,
                    timestamp_delta,
                )
            )
            position = end
    except InvalidRecord as err:
        raise CleanerError(f"the batch at offset {batch.base_offset}: {err}") from err
    return found


def _build_offset_map(job: CleaningJob) -> tuple[dict[bytes, int], int]:
    """Each key's latest offset in the dirty range, and where the mapped range ends: the
    dirty segments' end, or the first batch met once the map holds ``max_keys`` keys (as
    Kafka's full map ends the range; at least one batch is always mapped)."""
    offsets: dict[bytes, int] = {}
    first_dirty = job.first_dirty
    mapped_any = False
    for segment in job.segments:
        if segment.next_offset <= first_dirty:
            continue
        for batch in _batches(job.directory, segment):
            if batch.last_offset < first_dirty or batch.attributes & ATTR_CONTROL:
                continue
            if mapped_any and len(offsets) >= job.max_keys:
                return offsets, batch.base_offset
            count = HEADER.unpack_from(batch.data)[12]
            for record in _records(batch, batch.records_bytes, count):
                if record.key is not None and record.offset >= first_dirty:
                    offsets[record.key] = record.offset
            mapped_any = True
    return offsets, job.segments[-1].next_offset


def _group_by_size(segments: list[SegmentFacts], config: LogConfig) -> Iterator[list[SegmentFacts]]:
    """Consecutive segments that fit one segment together (Kafka's ``groupSegmentsBySize``)."""
    group: list[SegmentFacts] = []
    size = 0
    for segment in segments:
        if group and (
            size + segment.size > config.segment_bytes
            or segment.next_offset - 1 - group[0].base_offset > INT_MAX
        ):
            yield group
            group, size = [], 0
        group.append(segment)
        size += segment.size
    if group:
        yield group


class _Writer:
    """Cleaned batches into one ``.cleaned`` segment, with a pending run of offsets whose
    batches all went, written as one empty batch."""

    def __init__(self, job: CleaningJob, base_offset: int) -> None:
        self.job = job
        self.segment = Segment.create(job.directory, base_offset, job.config, suffix=swap.CLEANED)
        self.buffer = bytearray()
        self.buffer_base = base_offset
        self.next_offset = base_offset
        self.run: tuple[int, int, int] | None = None  # (epoch, max timestamp, first offset)
        self.chunks = 0

    def skip(self, batch: _Batch) -> None:
        """``batch`` went whole: its offsets join the run."""
        if self.run is not None and self.run[0] != batch.epoch:
            self._end_run()
        if self.run is None:
            self.run = (batch.epoch, batch.max_timestamp, batch.base_offset)
        else:
            self.run = (batch.epoch, max(self.run[1], batch.max_timestamp), self.run[2])
        self.next_offset = batch.last_offset + 1

    def add(self, data: bytes | memoryview, last_offset: int) -> None:
        self._end_run()
        self.buffer += data
        self.next_offset = last_offset + 1
        if len(self.buffer) >= _CHUNK_BYTES:
            self._write()

    def _end_run(self) -> None:
        if self.run is None:
            return
        epoch, max_timestamp, first = self.run
        self.run = None
        empty = bytearray(
            seal_batch(
                b"",
                count=0,
                timestamp=max_timestamp,
                max_timestamp=max_timestamp,
                last_offset_delta=self.next_offset - 1 - first,
            )
        )
        empty[0:8] = first.to_bytes(8, "big", signed=True)
        empty[12:16] = epoch.to_bytes(4, "big", signed=True)  # both lie outside the CRC
        self.buffer += empty
        if len(self.buffer) >= _CHUNK_BYTES:
            self._write()

    def _write(self) -> None:
        if not self.buffer:
            return
        headers, position = [], 0
        while position < len(self.buffer):
            header = read_header(self.buffer, position)
            headers.append(header)
            position += header.size
        self.segment.append(self.buffer, headers, self.buffer_base)
        self.buffer_base = self.segment.next_offset
        self.buffer = bytearray()
        self.chunks += 1
        if self.chunks == 1 and faults.ARMED and faults.fires("clean-write"):
            faults.crash("clean-write", from_child=self.job.in_child)

    def finish(self) -> Segment:
        self._end_run()
        self._write()
        self.segment.seal()
        self.segment.sync()
        self.segment.close()
        return self.segment


def _clean_group(
    job: CleaningJob, group: list[SegmentFacts], offsets: dict[bytes, int], stats: _Stats
) -> CleanedSegment:
    writer = _Writer(job, group[0].base_offset)
    try:
        for segment in group:
            for batch in _batches(job.directory, segment, stats):
                _clean_batch(job, batch, offsets, writer, stats)
        written = writer.finish()
        if written.next_offset != group[-1].next_offset:
            raise CleanerError(f"{job.name}: a cleaned segment lost offsets; it is dropped")
    except BaseException:
        writer.segment.close()
        swap.discard(job.directory, group[0].base_offset, swap.CLEANED)
        raise
    stats.bytes_written += written.size
    return CleanedSegment(
        group[0].base_offset,
        written.next_offset,
        written.size,
        tuple((s.base_offset, s.size) for s in group),
    )


def _clean_batch(
    job: CleaningJob,
    batch: _Batch,
    offsets: dict[bytes, int],
    writer: _Writer,
    stats: _Stats,
) -> None:
    fields = HEADER.unpack_from(batch.data)
    attributes, last_offset_delta, base_timestamp, max_timestamp = fields[5:9]
    producer_id, producer_epoch, base_sequence, count = fields[9:13]
    if attributes & ATTR_CONTROL:
        writer.add(batch.data, batch.last_offset)
        return
    records_bytes = batch.records_bytes
    records = _records(batch, records_bytes, count)
    stats.records_read += len(records)
    horizon_set = bool(attributes & ATTR_DELETE_HORIZON)
    now = job.now_ms
    kept = [
        r
        for r in records
        if r.key is not None
        and offsets.get(r.key, r.offset) <= r.offset
        and not (r.tombstone and horizon_set and now >= base_timestamp)
    ]
    stats.records_kept += len(kept)
    set_horizon = not horizon_set and any(r.tombstone for r in kept)
    if len(kept) == len(records) and not set_horizon:
        writer.add(batch.data, batch.last_offset)
        return
    retain_empty = (
        producer_id >= 0 and job.producer_last_offsets.get(producer_id) == batch.last_offset
    )
    if not kept and not retain_empty:
        writer.skip(batch)
        return
    new_base_timestamp = base_timestamp
    body = bytearray()
    if set_horizon:
        new_base_timestamp = now + job.config.delete_retention_ms
        attributes |= ATTR_DELETE_HORIZON
        for r in kept:
            timestamp = base_timestamp + r.timestamp_delta
            inner = (
                records_bytes[r.delta_at - 1 : r.delta_at]
                + zigzag_varint(timestamp - new_base_timestamp)
                + records_bytes[r.after_delta : r.end]
            )
            body += zigzag_varint(len(inner)) + inner
    else:
        for r in kept:
            body += records_bytes[r.start : r.end]
    codec = attributes & ATTR_COMPRESSION_MASK
    payload = compress(codec, bytes(body), None) if codec and body else bytes(body)
    if not body:
        attributes &= ~ATTR_COMPRESSION_MASK
    rebuilt = bytearray(
        seal_batch(
            payload,
            count=len(kept),
            timestamp=new_base_timestamp,
            max_timestamp=max_timestamp,
            last_offset_delta=last_offset_delta,
            attributes=attributes,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=base_sequence,
        )
    )
    rebuilt[0:8] = batch.data[0:8]  # base offset
    rebuilt[12:16] = batch.data[12:16]  # leader epoch (neither is covered by the CRC)
    writer.add(rebuilt, batch.last_offset)
