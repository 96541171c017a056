"""One log segment: ``<base>.log`` with its ``.index`` and ``.timeindex``.

The ``.log`` holds whole RecordBatch v2 batches back to back, exactly as served, with
consecutive offsets starting at the segment's base offset. The segment reads batch headers
(61 bytes, with ``os.pread``); record bytes only in the one batch a ListOffsets by timestamp
lands on (``record_times``).

The ``.log`` is opened in append mode: every write lands at the end whatever the file
position, so a reader that seeks the shared file object (``loop.sendfile``'s fallback) can
not misplace a write. It is the segment's only open file descriptor (the indexes open theirs
per write). An append that fails anywhere puts the ``.log`` and indexes back as they were.

Nothing is served unchecked: bytes this process appended (CRC-checked by the produce path)
or recovered count as verified; any other range is CRC-32C checked the first time it is
read. A damaged batch is never served: reads stop before it, and one ERROR line says where.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import time
from pathlib import Path
from typing import NamedTuple

from broker.protocol.batch import (
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_V2,
    BatchHeader,
    scan_valid,
)
from broker.protocol.errors import InvalidRecord
from broker.storage import faults
from broker.storage.config import INT_MAX, LogConfig
from broker.storage.index import NO_TIMESTAMP, OffsetIndex, TimeIndex
from broker.storage.record_times import record_times
from broker.storage.scan import ScannedFile

log = logging.getLogger("broker.storage")

_MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD


def file_stem(base_offset: int) -> str:
    return f"{base_offset:020d}"


def segment_path(directory: Path, base_offset: int, kind: str, suffix: str = "") -> Path:
    """``<directory>/<base>.log`` (``kind``: ``.log``, ``.index`` or ``.timeindex``), with
    ``suffix`` after it when given (``.cleaned``, ``.swap``)."""
    return directory / f"{file_stem(base_offset)}{kind}{suffix}"


class SegmentFile(io.FileIO):
    """A ``.log`` file object. A ``FileSlice`` may outlive the segment's deletion, so the file
    closes itself, quietly, when its last reference goes."""

    def __del__(self) -> None:
        self.close()


class FileSlice(NamedTuple):
    """Whole batches at ``position .. position + length`` of an open segment file."""

    file: SegmentFile
    position: int
    length: int

    def read_bytes(self) -> bytes:
        return os.pread(self.file.fileno(), self.length, self.position)


class Batch(NamedTuple):
    """What storage needs of one stored batch header."""

    position: int
    size: int
    base_offset: int
    last_offset: int
    max_timestamp: int
    leader_epoch: int


class TimestampAndOffset(NamedTuple):
    """A ListOffsets answer: a record's timestamp and offset, and its batch's leader epoch."""

    timestamp: int
    offset: int
    leader_epoch: int


class Segment:
    """A segment's files and what is known about them in memory.

    ``next_offset`` is one past the last stored offset; ``max_timestamp`` the largest batch
    timestamp, first reached by the batch at ``offset_of_max_timestamp``. ``problem`` says why
    ``open`` found the segment unusable as it stands; ``recover`` clears it.
    """

    def __init__(
        self,
        directory: Path,
        base_offset: int,
        config: LogConfig,
        *,
        fresh: bool,
        suffix: str = "",
    ) -> None:
        self.base_offset = base_offset
        self.log_path = segment_path(directory, base_offset, ".log", suffix)
        if fresh:
            self.log_path.open("wb").close()
        self.file = SegmentFile(self.log_path, "a+b")
        self._fd = self.file.fileno()
        self.size = os.fstat(self._fd).st_size
        self.offset_index = OffsetIndex(
            segment_path(directory, base_offset, ".index", suffix),
            config.segment_index_bytes,
            fresh=fresh,
        )
        self.time_index = TimeIndex(
            segment_path(directory, base_offset, ".timeindex", suffix),
            config.segment_index_bytes,
            fresh=fresh,
        )
        self.index_interval_bytes = config.index_interval_bytes
        self.next_offset = base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = -1
        self.dirty = False
        self.indexes_behind = False  # an interval sync left index entries unsynced
        self.problem: str | None = None
        self._verified = (0, 0)  # one byte range known to hold valid, continuous batches
        self._damage_reported: set[int] = set()
        self._bytes_since_index_entry = 0
        self._rolling_timestamp: int | None = None
        self.broken: str | None = None  # why appends are refused until a restart
        self.created_ms = time.time_ns() // 1_000_000

    @classmethod
    def create(
        cls, directory: Path, base_offset: int, config: LogConfig, *, suffix: str = ""
    ) -> Segment:
        """A new, empty segment; ``suffix`` (the cleaner's ``.cleaned``) follows each file's
        own, keeping the files out of the log until they are renamed."""
        return cls(directory, base_offset, config, fresh=True, suffix=suffix)

    @classmethod
    def open(cls, directory: Path, base_offset: int, config: LogConfig) -> Segment:
        """Open existing files and check them cheaply: the indexes' shapes, and the batch
        headers after the last offset index entry. Sets ``problem`` if anything is off."""
        segment = cls(directory, base_offset, config, fresh=False)
        segment.problem = segment.offset_index.load(segment.size) or segment._load_tail()
        if segment.problem is None:
            end = segment.next_offset - base_offset
            segment.problem = segment.time_index.load(end)
        if segment.problem is None:
            segment._adopt_indexed_max_timestamp()
        return segment

    def update_config(self, config: LogConfig) -> None:
        self.index_interval_bytes = config.index_interval_bytes
        self.offset_index.resize(config.segment_index_bytes)
        self.time_index.resize(config.segment_index_bytes)

    # ---- reading headers ------------------------------------------------------------------

    def peek(self, position: int) -> Batch | None:
        """The header at ``position`` if a whole, plausible batch starts there."""
        if position + HEADER_SIZE > self.size:
            return None
        fields = HEADER.unpack(os.pread(self._fd, HEADER_SIZE, position))
        base_offset, batch_length, epoch, magic, _, _, last_offset_delta, _, max_timestamp = fields[
            :9
        ]
        size = LOG_OVERHEAD + batch_length
        if (
            magic != MAGIC_V2
            or batch_length < _MIN_BATCH_LENGTH
            or position + size > self.size
            or last_offset_delta < 0
        ):
            return None
        last_offset = base_offset + last_offset_delta
        return Batch(position, size, base_offset, last_offset, max_timestamp, epoch)

    def _load_tail(self) -> str | None:
        """Walk the headers after the last offset index entry to learn ``next_offset`` and the
        tail's largest timestamp; they must continue each other up to the end of the file."""
        relative_offset, position = self.offset_index.last()
        expected = self.base_offset + relative_offset
        self._bytes_since_index_entry = self.size - position
        while position < self.size:
            batch = self.peek(position)
            if batch is None:
                return f"no valid batch at position {position}"
            if (found := batch.base_offset) != expected:
                return f"batch at position {position} starts at offset {found}, not {expected}"
            if batch.max_timestamp > self.max_timestamp:
                self.max_timestamp = batch.max_timestamp
                self.offset_of_max_timestamp = batch.base_offset
            expected = batch.last_offset + 1
            position += batch.size
        self.next_offset = expected
        return None

    def _adopt_indexed_max_timestamp(self) -> None:
        """After ``_load_tail``: the time index's last entry covers the batches before the
        tail; it wins ties, having reached the timestamp first."""
        if len(self.time_index) and self.time_index.last_timestamp >= self.max_timestamp:
            timestamp, relative_offset = self.time_index.last()
            self.max_timestamp = timestamp
            self.offset_of_max_timestamp = self.base_offset + relative_offset

    def find(self, offset: int) -> Batch | None:
        """The first batch whose last offset is >= ``offset``."""
        position = self.offset_index.floor(offset - self.base_offset)[1]
        while (batch := self.peek(position)) is not None:
            if batch.last_offset >= offset:
                return batch
            position += batch.size
        return None

    def slice(self, offset: int, max_bytes: int, max_offset: int) -> FileSlice | None:
        """Whole batches from the one holding ``offset``, each ending before ``max_offset``,
        at most ``max_bytes`` together but at least the first one."""
        first = self.find(offset)
        if first is None or first.last_offset >= max_offset:
            return None
        start = first.position
        end = start + first.size
        # Every batch before an index entry at or below both limits fits them: jump there.
        end = max(end, self.offset_index.floor(max_offset - self.base_offset, start + max_bytes)[1])
        while (batch := self.peek(end)) is not None:
            if batch.last_offset >= max_offset or end + batch.size - start > max_bytes:
                break
            end += batch.size
        low, high = self._verified
        if not low <= start < end <= high:
            end = self._verify(start, end, first.base_offset)
            if end == start:
                return None
        return FileSlice(self.file, start, end - start)

    def _verify(self, start: int, end: int, base_offset: int) -> int:
        """CRC-check the batches in ``start .. end`` (the first at ``base_offset``) and widen
        the verified range; return where the leading run of valid, continuous batches ends."""
        data = os.pread(self._fd, end - start, start)
        valid = 0
        for header in scan_valid(data, verify_crc=True):
            if header.base_offset != base_offset:
                break
            base_offset = header.last_offset + 1
            valid = header.position + header.size
        if valid:
            low, high = self._verified
            if low <= start + valid and start <= high:  # overlapping or touching: merge
                self._verified = (min(low, start), max(high, start + valid))
            else:
                self._verified = (start, start + valid)
        if valid < len(data):
            self._report_damage(start + valid, base_offset)
        return start + valid

    def _report_damage(self, position: int, offset: int) -> None:
        if position in self._damage_reported:
            return
        self._damage_reported.add(position)
        log.error(
            "%s: the batch at position %d of %s (offset %d) fails its CRC-32C or offset check:"
            " it is not served, and fetches of this partition stop at offset %d; restore the"
            " segment from a backup or a replica",
            self.log_path.parent.name,
            position,
            self.log_path.name,
            offset,
            offset,
        )

    def offset_for_timestamp(self, timestamp: int, min_offset: int) -> TimestampAndOffset | None:
        """Kafka's ``findOffsetByTimestamp``: the first record at or after ``min_offset``
        whose timestamp is >= ``timestamp``. The time index (sparse, by batch) gives where to
        start; only batches whose max timestamp qualifies are looked inside."""
        relative_offset = max(self.time_index.floor(timestamp), min_offset - self.base_offset)
        position = self.offset_index.floor(relative_offset)[1]
        while (batch := self.peek(position)) is not None:
            if batch.max_timestamp >= timestamp and batch.last_offset >= min_offset:
                times = self._record_times(batch)
                if times is None:  # unreadable records: answer by the batch
                    offset = max(batch.base_offset, min_offset)
                    return TimestampAndOffset(batch.max_timestamp, offset, batch.leader_epoch)
                for offset, record_timestamp in times:
                    if record_timestamp >= timestamp and offset >= min_offset:
                        return TimestampAndOffset(record_timestamp, offset, batch.leader_epoch)
            position += batch.size
        return None

    def max_timestamp_and_offset(self) -> TimestampAndOffset | None:
        """ListOffsets MAX_TIMESTAMP within this segment: the first record holding the
        largest timestamp, inside the first batch that reached it; None if none has one."""
        if self.max_timestamp < 0:
            return None
        batch = self.find(self.offset_of_max_timestamp)
        if batch is None:
            return None
        offset = batch.base_offset  # unless the records say which one holds it
        for record_offset, record_timestamp in self._record_times(batch) or ():
            if record_timestamp == batch.max_timestamp:
                offset = record_offset
                break
        return TimestampAndOffset(batch.max_timestamp, offset, batch.leader_epoch)

    def _record_times(self, batch: Batch) -> list[tuple[int, int]] | None:
        """The batch's ``(offset, timestamp)`` pairs, or None if its records cannot be read
        (a client may send records that only their CRC vouches for)."""
        try:
            return record_times(os.pread(self._fd, batch.size, batch.position))
        except InvalidRecord:
            return None

    def time_waited_for_roll(self, now_ms: int, batch_timestamp: int) -> int:
        """Kafka's ``LogSegment.timeWaitedForRoll``: how far ``batch_timestamp`` (an incoming
        batch's max timestamp) lies past the segment's first batch's max timestamp; for a
        segment whose first batch has none, how long ago the segment was created or opened."""
        if self._rolling_timestamp is None:
            first = self.peek(0)
            if first is None:
                return now_ms - self.created_ms
            self._rolling_timestamp = first.max_timestamp
        if self._rolling_timestamp >= 0:
            return batch_timestamp - self._rolling_timestamp
        return now_ms - self.created_ms

    def largest_timestamp(self) -> int:
        """For retention: the max batch timestamp, else the file's modification time."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return os.fstat(self._fd).st_mtime_ns // 1_000_000

    @property
    def index_full(self) -> bool:
        return self.offset_index.is_full or self.time_index.is_full

    # ---- writing ------------------------------------------------------------------------

    def append(self, buf: bytearray, headers: list[BatchHeader], base_offset: int) -> None:
        """Write ``buf`` (batches already stamped from ``base_offset``) with one write, then
        the index entries it earns. If any of it fails, the segment is put back as it was
        (log and indexes) and the OSError is raised: a failed append leaves nothing behind."""
        if self.broken is not None:
            raise OSError(errno.EIO, self.broken)
        position = self.size
        if faults.ARMED and faults.fires("append"):
            os.write(self._fd, buf[: len(buf) // 2])
            faults.crash("append")
        before = self._append_state()
        try:
            written = os.write(self._fd, buf)
            if written != len(buf):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # a short write
            offset = base_offset
            for header in headers:
                self._index_batch(
                    offset, position + header.position, header.size, header.max_timestamp
                )
                offset += header.last_offset_delta + 1
            self.offset_index.write_pending()
            self.time_index.write_pending()
        except OSError:
            self._roll_back(position, before)
            raise
        self.size = position + len(buf)
        if self._verified[1] == position:
            self._verified = (self._verified[0], self.size)
        self.next_offset = offset
        self.dirty = True

    def _append_state(self) -> tuple[int, int, int, int, int]:
        return (
            len(self.offset_index),
            len(self.time_index),
            self.max_timestamp,
            self.offset_of_max_timestamp,
            self._bytes_since_index_entry,
        )

    def _roll_back(self, size: int, state: tuple[int, int, int, int, int]) -> None:
        """Undo a failed append: cut the ``.log`` back to ``size`` and the indexes back to
        ``state``. If the disk refuses even that, the segment is marked broken: it takes no
        more appends until a restart recovers it (the recovery keeps a whole batch, so an
        idempotent producer's retry is then found a duplicate, never stored twice)."""
        offset_entries, time_entries, *scalars = state
        self.max_timestamp, self.offset_of_max_timestamp, self._bytes_since_index_entry = scalars
        try:
            if os.fstat(self._fd).st_size != size:
                os.ftruncate(self._fd, size)
            self.offset_index.restore(offset_entries)
            self.time_index.restore(time_entries)
        except OSError as err:
            self.broken = (
                f"{self.log_path} could not be put back after a failed write ({err.strerror}); "
                "restart the broker to recover it"
            )
            log.error("%s", self.broken)

    def _index_batch(self, base_offset: int, position: int, size: int, max_timestamp: int) -> None:
        """Kafka's indexing rule, shared by append and rebuild."""
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = base_offset
        if self._bytes_since_index_entry > self.index_interval_bytes:
            if not self.offset_index.is_full:
                self.offset_index.append(base_offset - self.base_offset, position)
            if not self.time_index.is_full:
                self._index_max_timestamp()
            self._bytes_since_index_entry = 0
        self._bytes_since_index_entry += size

    def _index_max_timestamp(self) -> None:
        if self.max_timestamp > self.time_index.last_timestamp:
            relative_offset = self.offset_of_max_timestamp - self.base_offset
            self.time_index.append(self.max_timestamp, relative_offset)

    def seal(self) -> None:
        """Before a roll or a close: record the segment's max timestamp in the time index,
        even if it is full, so that a later open knows it without a scan."""
        self._index_max_timestamp()
        self.time_index.write_pending()

    def sync(self, *, indexes: bool = True) -> None:
        """fsync the ``.log`` and, unless ``indexes`` is false, both indexes. The interval
        flush leaves the indexes out: an index that lost its newest entries in a power cut is
        still right, only sparser (``open`` walks the batches after its last entry), and one
        that holds garbage is rebuilt, so a third of the fsyncs buy no durability."""
        os.fsync(self._fd)
        if indexes:
            self.offset_index.sync()
            self.time_index.sync()
        self.indexes_behind = not indexes
        self.dirty = False
        if faults.RECORD_FSYNCS and self.log_path.suffix == ".log":  # not a cleaner's file
            faults.record_fsync(
                self.log_path.with_suffix(""),
                {
                    ".log": self.size,
                    ".index": self.offset_index.synced_size,
                    ".timeindex": self.time_index.synced_size,
                },
            )

    def recover(self) -> int:
        """Check every batch (CRC-32C included) from the start, cut the file after the last
        batch that is valid and continues its predecessor's offsets, rebuild both indexes (the
        time index sealed, as by ``seal``), fsync. Returns the number of bytes cut."""
        self.offset_index.reset()
        self.time_index.reset()
        self.next_offset = self.base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = -1
        self._bytes_since_index_entry = 0
        self._rolling_timestamp = None
        valid_end = 0
        if self.size:
            with ScannedFile(self._fd, self.size) as scanned:
                for header in scan_valid(scanned.view, verify_crc=True):
                    scanned.advance(header.position)
                    if (
                        header.base_offset != self.next_offset
                        or header.last_offset_delta < 0
                        or header.last_offset - self.base_offset > INT_MAX
                    ):
                        break
                    self._index_batch(
                        header.base_offset, header.position, header.size, header.max_timestamp
                    )
                    self.next_offset = header.last_offset + 1
                    valid_end = header.position + header.size
        cut = self.size - valid_end
        if cut:
            os.ftruncate(self._fd, valid_end)
            self.size = valid_end
        self._index_max_timestamp()
        self.offset_index.write_pending()
        self.time_index.write_pending()
        self.sync()
        self.problem = None
        self._verified = (0, self.size)
        return cut

    def truncate_to(self, offset: int) -> int:
        """Remove the batch holding ``offset`` and all after it; return the bytes cut."""
        batch = self.find(offset)
        if batch is None:
            return 0
        cut = self.size - batch.position
        os.ftruncate(self._fd, batch.position)
        self.size = batch.position
        low, high = self._verified
        self._verified = (min(low, self.size), min(high, self.size))
        self.offset_index.truncate_to_position(self.size)
        self.time_index.truncate_to_offset(batch.base_offset - self.base_offset)
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = -1
        self._rolling_timestamp = None
        self._load_tail()
        self._adopt_indexed_max_timestamp()
        self.dirty = True
        return cut

    def close(self) -> None:
        self.file.close()

    def delete(self) -> None:
        """Unlink the files. The ``.log`` file object is only dropped, not closed: a pending
        ``FileSlice`` may still be sending from it."""
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            path.unlink(missing_ok=True)
        del self.file
