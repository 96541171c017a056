"""One partition's log: its segments, offsets, retention, recovery and leader epochs.

Invariants: segments are contiguous (each starts at the previous one's ``next_offset``); only
the last, the active segment, is written to; ``log_start_offset <= log_end_offset``; every
offset below ``recovery_point`` is fsynced; ``producer_state`` reflects every batch below the
log end offset. A ``PartitionLog`` is not thread-safe: its owner serialises calls.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable
from pathlib import Path

from broker.protocol.batch import (
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_V2,
    BatchHeader,
    assign_offsets,
)
from broker.storage import faults, swap
from broker.storage.checkpoint import fsync_directory, read_topic_id, write_topic_id
from broker.storage.config import INT_MAX, LogConfig
from broker.storage.epochs import LeaderEpochCache
from broker.storage.errors import OffsetOutOfRange, StorageError
from broker.storage.health import DiskHealth
from broker.storage.producer_state import PRODUCER_ID_EXPIRATION_MS, ProducerStateManager, RawHeader
from broker.storage.scan import ScannedFile
from broker.storage.segment import FileSlice, Segment, TimestampAndOffset, file_stem

log = logging.getLogger("broker.storage")

_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_SEGMENT_FILE = re.compile(r"(\d{20})\.(log|index|timeindex)")
DELETE_SUFFIX = "-delete"
STRAY_SUFFIX = "-stray"
# Longest file name most filesystems take (ext4, xfs, tmpfs): a 249-character topic's
# ``<dir>.<uuid>-delete`` would pass it, so the topic is cut as Kafka cuts it.
_MAX_NAME_BYTES = 255
SEGMENT_SUFFIXES = (".log", ".index", ".timeindex")
# A flush snapshots the producer state once this many offsets were appended since the newest
# snapshot. It bounds the batch headers replayed after a crash (about 1.4 us each) without a
# snapshot file per append when flush.messages is small.
SNAPSHOT_INTERVAL_OFFSETS = 10_000


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """``(topic, partition)`` for a ``<topic>-<partition>`` name, else None."""
    topic, _, partition = name.rpartition("-")
    if not partition.isdigit() or not valid_topic_name(topic):
        return None
    return topic, int(partition)


def valid_topic_name(topic: str) -> bool:
    return _TOPIC_NAME.fullmatch(topic) is not None and topic not in (".", "..")


def doomed_name(directory: Path, suffix: str = DELETE_SUFFIX) -> Path:
    """Kafka's name for a partition directory on its way out (or moved aside as a stray):
    ``<topic>-<partition>.<uuid hex><suffix>``, the topic cut short so the name stays within
    255 bytes (Kafka's ``logDirNameWithSuffixCappedLength``)."""
    topic, _, partition = directory.name.rpartition("-")
    tail = f"-{partition}.{uuid.uuid4().hex}{suffix}"
    return directory.with_name(topic[: _MAX_NAME_BYTES - len(tail)] + tail)


class PartitionLog:
    def __init__(
        self,
        directory: Path,
        topic: str,
        partition: int,
        topic_id: uuid.UUID,
        config: LogConfig,
        segments: list[Segment],
        log_start_offset: int,
    ) -> None:
        self.directory = directory
        self.topic = topic
        self.partition = partition
        self.topic_id = topic_id
        self.config = config
        self._segments = segments
        self._bases = [segment.base_offset for segment in segments]
        self.log_start_offset = log_start_offset
        self.size_bytes = sum(segment.size for segment in segments)
        self.recovery_point = self.log_end_offset
        self._epochs = LeaderEpochCache(directory)
        self._dirty_since_ms: int | None = None
        # Told the time this log's flush comes due whenever that time is set anew: when a
        # clean log is written, or flush.ms changes (the log manager's flush scheduler).
        self.on_flush_due: Callable[[int], None] | None = None
        self.producer_state = ProducerStateManager(directory, self.name)
        self.disk = DiskHealth.of(directory.parent)

    @property
    def name(self) -> str:
        return partition_dir_name(self.topic, self.partition)

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets."""
        return self._segments[-1].next_offset

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The segments, oldest first; the last is the active one."""
        return tuple(self._segments)

    # ---- creating and opening -----------------------------------------------------------

    @classmethod
    def create(
        cls, root: Path, topic: str, partition: int, topic_id: uuid.UUID, config: LogConfig
    ) -> PartitionLog:
        """Make ``<root>/<topic>-<partition>/``. The directory is filled under a ``-delete``
        name and renamed into place, so a crash halfway leaves nothing that loads."""
        if not valid_topic_name(topic) or partition < 0:
            raise ValueError(f"illegal topic partition {topic!r} {partition}")
        directory = root / partition_dir_name(topic, partition)
        if directory.exists():
            raise StorageError(f"cannot create log {directory}: it already exists")
        staging = doomed_name(directory)
        staging.mkdir()
        write_topic_id(staging, topic_id)
        staging.rename(directory)
        fsync_directory(root)
        return cls.open(directory, config, recovery_point=0)

    @classmethod
    def open(
        cls, directory: Path, config: LogConfig, *, recovery_point: int, log_start_offset: int = 0
    ) -> PartitionLog:
        """Load a partition directory. Every segment that may hold offsets at or after
        ``recovery_point``, and every segment whose index or tail looks wrong, is recovered:
        its batches are checked, a torn or garbage tail is cut and its indexes are rebuilt.
        Segments after a cut or a gap in offsets are deleted. ``log_start_offset`` (from the
        log-start checkpoint) is applied, clamped to the log's offsets."""
        parsed = parse_partition_dir(directory.name)
        if parsed is None:
            raise StorageError(f"{directory} is not named <topic>-<partition>")
        topic, partition = parsed
        topic_id = read_topic_id(directory)
        name = directory.name
        segments = _load_segments(directory, config, recovery_point, name)
        if not segments:
            segments = [Segment.create(directory, max(log_start_offset, 0), config)]
            fsync_directory(directory)
        first = segments[0].base_offset
        end = segments[-1].next_offset
        start = min(max(log_start_offset, first), end)
        if start < log_start_offset:
            log.warning(
                "%s: log start offset %d lies past the log's end; using %d",
                name,
                log_start_offset,
                start,
            )
        partition_log = cls(directory, topic, partition, topic_id, config, segments, start)
        partition_log._epochs.truncate_from_end(end)
        partition_log._epochs.truncate_from_start(start)
        partition_log._load_producer_state()
        return partition_log

    def _load_producer_state(self) -> None:
        """Load the newest usable snapshot and replay the batch headers after it."""
        state = self.producer_state
        end = self.log_end_offset
        start = state.load(self._segments[0].base_offset, end)
        if start < end:
            applied = state.replay(_stored_headers(self._segments, start))
            log.info(
                "%s: rebuilt producer state from offset %d to %d (%d idempotent batches, "
                "%d producers)",
                self.name,
                start,
                end,
                applied,
                len(state.producers),
            )
            state.take_snapshot(end, sync=False)

    # ---- appending ----------------------------------------------------------------------

    def append(
        self,
        records: bytes | bytearray | memoryview,
        headers: list[BatchHeader],
        leader_epoch: int,
        now_ms: int,
    ) -> int:
        """Store validated batches: stamp offsets and ``leader_epoch``, roll if due, write
        them with one write, apply the flush policy. Returns the first offset assigned.

        Batches with a producer id are first checked against the producer state, which may
        raise ``DuplicateBatch`` (nothing is written: answer with its offsets),
        ``InvalidProducerEpoch`` or ``OutOfOrderSequence``; see ``producer_state``."""
        idempotent = False
        for header in headers:
            if header.producer_id >= 0:
                self.producer_state.check(headers)
                idempotent = True
                break
        buf = bytearray(records)
        base_offset = self.log_end_offset
        next_offset = assign_offsets(buf, headers, base_offset, leader_epoch)
        self._store(
            buf,
            headers,
            base_offset,
            next_offset,
            now_ms,
            idempotent,
            ((leader_epoch, base_offset),),
        )
        return base_offset

    def append_as_follower(
        self, records: bytes | bytearray | memoryview, headers: list[BatchHeader], now_ms: int
    ) -> None:
        """Store batches replicated from the leader exactly as they came: their offsets and
        leader epochs are the leader's (Kafka's ``appendAsFollower``); ``headers`` are theirs
        from ``validate_replicated``, which checked the CRCs.

        The first batch must start at the log end offset and each one right after the one
        before, or ``StorageError`` is raised and nothing is written. The leader-epoch cache
        learns each epoch at the first batch that carries it, and the producer state records
        every idempotent batch unchecked (the leader checked it), so that a producer's retry
        reaching this replica once it leads is answered as a duplicate at its original
        offsets. Roll, flush and failure handling are the leader path's."""
        if not headers:
            return
        base_offset = expected = self.log_end_offset
        for header in headers:
            if header.base_offset != expected:
                raise StorageError(
                    f"{self.name}: replicated batch starts at offset {header.base_offset}, "
                    f"expected {expected}"
                )
            expected = header.last_offset + 1
        idempotent = any(header.producer_id >= 0 for header in headers)
        epoch_starts = ((header.partition_leader_epoch, header.base_offset) for header in headers)
        self._store(records, headers, base_offset, expected, now_ms, idempotent, epoch_starts)

    def _store(
        self,
        buf: bytes | bytearray | memoryview,
        headers: list[BatchHeader],
        base_offset: int,
        next_offset: int,
        now_ms: int,
        idempotent: bool,
        epoch_starts: Iterable[tuple[int, int]],
    ) -> None:
        """Write batches stamped from ``base_offset`` (rolling first if due), record them in
        the producer state, record ``epoch_starts`` (epoch, first offset) in the leader-epoch
        cache, and apply the flush policy."""
        active = self._segments[-1]
        try:
            if active.size and self._should_roll(active, headers, next_offset - 1, now_ms):
                active = self._roll()
            active.append(buf, headers, base_offset)  # all or nothing
        except OSError as err:
            raise self.disk.failed(f"append to {self.name}", err) from err
        # The batch is in the log: from here on, its producer sequence is recorded first,
        # so that a retry after any later failure is answered as a duplicate.
        if idempotent:
            self.producer_state.update(headers, base_offset)
        self.size_bytes += len(buf)
        if self._dirty_since_ms is None:
            self._dirty_since_ms = now_ms
            self._tell_flush_due()
        try:
            epochs = self._epochs
            for epoch, start_offset in epoch_starts:
                if epoch >= 0 and epoch != epochs.latest_epoch:
                    epochs.assign(epoch, start_offset)
            unflushed = next_offset - self.recovery_point
            if unflushed >= self.config.flush_messages or self.needs_flush(now_ms):
                self.flush()
        except OSError as err:
            raise self.disk.failed(f"flush {self.name}", err) from err
        self.disk.succeeded()

    def _should_roll(
        self, active: Segment, headers: list[BatchHeader], last_offset: int, now_ms: int
    ) -> bool:
        """Kafka's ``LogSegment.shouldRoll``: segment.ms is judged by the batch's own time
        (its max timestamp less the segment's first batch's), not the wall clock, so old
        records fill segments like new ones."""
        config = self.config
        size = sum(header.size for header in headers)
        max_timestamp = max(header.max_timestamp for header in headers)
        return (
            active.size + size > config.segment_bytes
            or active.time_waited_for_roll(now_ms, max_timestamp) > config.max_segment_ms
            or active.index_full
            or last_offset - active.base_offset > INT_MAX
        )

    def _roll(self) -> Segment:
        """Seal and fsync the active segment and start a new one at the log end offset."""
        old = self._segments[-1]
        old.seal()
        old.sync()
        self.producer_state.take_snapshot(old.next_offset, sync=True)
        try:
            new = Segment.create(self.directory, old.next_offset, self.config)
        except OSError:
            _remove_segment_files(self.directory, old.next_offset)
            raise
        try:
            fsync_directory(self.directory)
        except OSError:
            new.close()
            _remove_segment_files(self.directory, old.next_offset)
            raise
        if faults.ARMED:
            faults.reached("roll")
        self._segments.append(new)
        self._bases.append(new.base_offset)
        self.recovery_point = new.base_offset
        self._dirty_since_ms = None
        log.debug("%s: rolled to segment %s", self.name, file_stem(new.base_offset))
        return new

    # ---- reading ------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, max_offset: int) -> FileSlice | None:
        """Whole batches of one segment, from the one holding ``offset``, that lie below
        ``max_offset`` (the high watermark), at most ``max_bytes`` but at least one batch
        (KIP-74). None when nothing is there yet."""
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRange(offset, self.log_start_offset, self.log_end_offset)
        max_offset = min(max_offset, self.log_end_offset)
        if offset >= max_offset:
            return None
        segment = self._segments[bisect_right(self._bases, offset) - 1]
        return segment.slice(offset, max_bytes, max_offset)

    def offset_for_timestamp(self, timestamp_ms: int) -> TimestampAndOffset | None:
        """ListOffsets by time, per record (Kafka's ``fetchOffsetByTimestamp``): the first
        record at or after the log start whose timestamp is >= ``timestamp_ms``."""
        start = self.log_start_offset
        for segment in self._segments:
            if segment.max_timestamp >= timestamp_ms and segment.next_offset > start:
                found = segment.offset_for_timestamp(timestamp_ms, start)
                if found is not None:
                    return found
        return None

    def max_timestamp(self) -> TimestampAndOffset | None:
        """ListOffsets MAX_TIMESTAMP (-3): the first record holding the largest timestamp
        (in the first segment and batch that reached it); None when no record has one."""
        best: Segment | None = None
        for segment in self._segments:
            if segment.next_offset > self.log_start_offset and segment.max_timestamp > (
                best.max_timestamp if best else -1
            ):
                best = segment
        found = best.max_timestamp_and_offset() if best else None
        if found is None:
            return None
        return found._replace(offset=max(found.offset, self.log_start_offset))

    # ---- retention and truncation -------------------------------------------------------

    def delete_expired(self, now_ms: int, high_watermark: int | None = None) -> int:
        """Kafka's retention pass; returns the number of segments deleted.

        Deletes, oldest first, whole segments that lie below the log start offset, then (if
        cleanup.policy has ``delete``) while the log exceeds retention.bytes by at least the
        segment's size, then while the segment's newest timestamp is older than retention.ms.
        With ``high_watermark`` only segments wholly below it go. If the active segment goes
        too, a new empty one is rolled first, so the log start moves to the log end.
        """
        config = self.config
        deleted = self._delete_below_log_start(high_watermark)
        if config.deletes_old_segments and config.retention_bytes >= 0:
            excess = self.size_bytes - config.retention_bytes

            def over_size(segment: Segment, is_last: bool) -> bool:
                nonlocal excess
                if excess < segment.size:
                    return False
                excess -= segment.size
                return True

            deleted += self._delete_oldest(over_size, "over retention.bytes", high_watermark)
        if config.deletes_old_segments and config.retention_ms >= 0:
            deleted += self._delete_oldest(
                lambda segment, is_last: now_ms - segment.largest_timestamp() > config.retention_ms,
                "older than retention.ms",
                high_watermark,
            )
        return deleted

    def _delete_oldest(
        self,
        deletable: Callable[[Segment, bool], bool],
        reason: str,
        high_watermark: int | None,
    ) -> int:
        limit = self.log_end_offset if high_watermark is None else high_watermark
        doomed: list[Segment] = []
        for i, segment in enumerate(self._segments):
            is_last = i == len(self._segments) - 1
            if (is_last and segment.size == 0) or segment.next_offset > limit:
                break
            if not deletable(segment, is_last):
                break
            doomed.append(segment)
        if not doomed:
            return 0
        if len(doomed) == len(self._segments):
            self._roll()
        del self._segments[: len(doomed)]
        del self._bases[: len(doomed)]
        # The log's own state first: a disk that then refuses the unlinks leaves stray files
        # (removed at the next start), never a log start below its first segment.
        self.size_bytes -= sum(segment.size for segment in doomed)
        self.log_start_offset = max(self.log_start_offset, self._segments[0].base_offset)
        for segment in doomed:
            segment.delete()
        self._epochs.truncate_from_start(self.log_start_offset)
        self.producer_state.delete_snapshots_below(self._segments[0].base_offset)
        log.info(
            "%s: deleted %d segment(s) %s (offsets %d to %d, %d bytes); log start offset now %d",
            self.name,
            len(doomed),
            reason,
            doomed[0].base_offset,
            doomed[-1].next_offset - 1,
            sum(segment.size for segment in doomed),
            self.log_start_offset,
        )
        return len(doomed)

    def _delete_below_log_start(self, high_watermark: int | None) -> int:
        """Delete the segments wholly below the log start offset (never the active one)."""
        return self._delete_oldest(
            lambda segment, is_last: not is_last and segment.next_offset <= self.log_start_offset,
            "below the log start offset",
            high_watermark,
        )

    def advance_log_start(self, offset: int) -> int:
        """Move the log start offset up to ``offset`` (DeleteRecords on the leader; a follower
        following its leader's): records below it are gone for readers, and the segments
        wholly below it are deleted at once (Kafka leaves those to its next retention pass).
        Returns how many segments went. Raises OffsetOutOfRange past the log end, and
        StorageError when the disk refuses a deletion: the log start has moved all the same,
        and the files left are deleted after the next start."""
        if offset > self.log_end_offset:
            raise OffsetOutOfRange(offset, self.log_start_offset, self.log_end_offset)
        if offset <= self.log_start_offset:
            return 0
        self.log_start_offset = offset
        self._epochs.truncate_from_start(offset)
        try:
            return self._delete_below_log_start(None)
        except OSError as err:
            what = f"delete the segments of {self.name} below {offset}"
            raise self.disk.failed(what, err) from err

    def truncate_to(self, offset: int) -> None:
        """Remove every batch holding an offset >= ``offset`` (a follower truncating to its
        leader, KIP-101). The log end becomes the start of the batch holding ``offset``.
        Either way the leader-epoch cache loses the epochs starting at or after the log end:
        one this node began as leader but never wrote in would diverge from the new leader."""
        if offset >= self.log_end_offset:
            self._epochs.truncate_from_end(self.log_end_offset)
            return
        if offset < self.log_start_offset:
            raise OffsetOutOfRange(offset, self.log_start_offset, self.log_end_offset)
        while len(self._segments) > 1 and self._segments[-1].base_offset >= offset:
            segment = self._segments.pop()
            self._bases.pop()
            segment.delete()
            self.size_bytes -= segment.size
        active = self._segments[-1]
        self.size_bytes -= active.truncate_to(offset)
        active.sync()
        fsync_directory(self.directory)
        self.recovery_point = min(self.recovery_point, self.log_end_offset)
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)
        self._epochs.truncate_from_end(self.log_end_offset)
        self._truncate_producer_state()
        log.info("%s: truncated to offset %d", self.name, self.log_end_offset)

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Empty the log and start it again at ``offset`` (Kafka's ``truncateFullyAndStartAt``:
        a follower whose leader no longer holds this log's end). The old segments go first
        (one may bear the new one's name): a crash halfway leaves fewer or no segments, which
        load as a shorter log, and the follower does it again."""
        for segment in self._segments:
            segment.delete()
        new = Segment.create(self.directory, offset, self.config)
        fsync_directory(self.directory)
        self._segments, self._bases = [new], [offset]
        self.size_bytes = 0
        self.log_start_offset = self.recovery_point = offset
        self._dirty_since_ms = None
        self._epochs.clear()
        self.producer_state.load(offset, offset)  # no producer, no snapshot: nothing is left
        log.info("%s: emptied; the log now starts at offset %d", self.name, offset)

    def _truncate_producer_state(self) -> None:
        """Forget the batches at or after the new log end: reload the newest snapshot at or
        below it and replay, unless no such batch was ever applied."""
        state = self.producer_state
        end = self.log_end_offset
        state.delete_snapshots_from(end)
        if not state.holds_offsets_from(end):
            return
        start = state.load(self._segments[0].base_offset, end)
        if start < end:
            state.replay(_stored_headers(self._segments, start))
        state.changed = True

    # ---- compaction ---------------------------------------------------------------------

    def replace_segments(self, old: list[Segment], new: Segment) -> None:
        """Serve ``new``, a cleaned segment already in place on disk, instead of ``old``:
        consecutive segments holding exactly its offsets (``old`` files are gone already)."""
        i = self._segments.index(old[0])
        if self._segments[i : i + len(old)] != old or new.next_offset != old[-1].next_offset:
            raise StorageError(f"{self.name}: a cleaned segment does not match what it replaces")
        self._segments[i : i + len(old)] = [new]
        self._bases[i : i + len(old)] = [new.base_offset]
        self.size_bytes += new.size - sum(segment.size for segment in old)

    # ---- producer state -----------------------------------------------------------------

    def expire_producers(self, now_ms: int, expiration_ms: int = PRODUCER_ID_EXPIRATION_MS) -> int:
        """Forget producers idle for ``expiration_ms`` (Kafka's producer.id.expiration.ms,
        judged by their last batch's timestamp); returns how many went."""
        expired = self.producer_state.remove_expired(now_ms, expiration_ms)
        if expired:
            log.info("%s: expired %d idle producer id(s)", self.name, expired)
        return expired

    # ---- leader epochs ------------------------------------------------------------------

    @property
    def leader_epochs(self) -> list[tuple[int, int]]:
        """The leader-epoch cache: ``(epoch, start_offset)`` pairs, oldest first."""
        return list(self._epochs.entries)

    @property
    def latest_epoch(self) -> int:
        """The newest epoch in the leader-epoch cache, -1 when it is empty."""
        return self._epochs.latest_epoch

    def assign_epoch(self, epoch: int, start_offset: int) -> None:
        self._epochs.assign(epoch, start_offset)

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: see ``LeaderEpochCache.end_offset_for``."""
        return self._epochs.end_offset_for(epoch, self.log_end_offset)

    # ---- flushing and lifecycle ---------------------------------------------------------

    def needs_flush(self, now_ms: int) -> bool:
        """Whether the oldest unflushed write is flush.ms old."""
        since = self._dirty_since_ms
        return since is not None and now_ms - since >= self.config.flush_ms

    @property
    def flush_due_ms(self) -> int | None:
        """When the oldest unflushed write is flush.ms old (None: nothing is unflushed)."""
        since = self._dirty_since_ms
        return None if since is None else since + self.config.flush_ms

    def _tell_flush_due(self) -> None:
        due = self.flush_due_ms
        if due is not None and self.on_flush_due is not None:
            self.on_flush_due(due)

    def flush(self) -> None:
        """fsync the active segment and its indexes; everything written is now durable.
        Then snapshot the producer state (not fsynced: it only shortens replay) if
        ``SNAPSHOT_INTERVAL_OFFSETS`` offsets were appended since the newest snapshot."""
        active = self._segments[-1]
        if active.dirty:
            active.sync(indexes=False)
        end = self.log_end_offset
        self.recovery_point = end
        self._dirty_since_ms = None
        state = self.producer_state
        if end - (state.latest_snapshot_offset or 0) >= SNAPSHOT_INTERVAL_OFFSETS:
            state.take_snapshot(end, sync=False)

    def update_config(self, config: LogConfig) -> None:
        self.config = config
        for segment in self._segments:
            segment.update_config(config)
        self._tell_flush_due()  # a shorter flush.ms brings it forward

    def close(self) -> None:
        """Seal and flush the active segment, snapshot the producer state (fsynced), then
        close every file."""
        active = self._segments[-1]
        active.seal()
        if active.dirty or active.indexes_behind:
            active.sync()  # the indexes too: the next open trusts them
        self.flush()
        self.producer_state.take_snapshot(self.log_end_offset, sync=True)
        self.close_files()

    def close_files(self) -> None:
        """Close every segment's file, writing nothing (also after ``close`` failed)."""
        for segment in self._segments:
            segment.close()

    def delete(self) -> None:
        """Close and remove the directory, renamed first so a crash cannot resurrect it."""
        doomed = self.rename_for_delete()
        fsync_directory(self.directory.parent)
        shutil.rmtree(doomed)
        log.info("%s: deleted partition log", self.name)

    def rename_for_delete(self) -> Path:
        """Close the files and rename the directory to its ``-delete`` name, which no load
        opens (the next one removes it) and which frees the partition's own name at once.
        Returns the new path; removing it is the caller's."""
        for segment in self._segments:
            segment.close()
        doomed = doomed_name(self.directory)
        self.directory.rename(doomed)
        return doomed


def _load_segments(
    directory: Path, config: LogConfig, recovery_point: int, name: str
) -> list[Segment]:
    swap.complete(directory, name)
    bases: set[int] = set()
    for path in directory.iterdir():
        match = _SEGMENT_FILE.fullmatch(path.name)
        if match and match[2] == "log":
            bases.add(int(match[1]))
    for path in directory.iterdir():
        match = _SEGMENT_FILE.fullmatch(path.name)
        if match and int(match[1]) not in bases:
            log.warning("%s: removed %s, which has no .log file", name, path.name)
            path.unlink()
    segments: list[Segment] = []
    ordered = sorted(bases)
    for i, base in enumerate(ordered):
        if segments and base != segments[-1].next_offset:
            _drop_segments(directory, ordered[i:], name, segments[-1].next_offset)
            break
        segment = Segment.open(directory, base, config)
        segments.append(segment)
        problem = segment.problem
        if problem is None and segment.next_offset <= recovery_point:
            continue
        cut = segment.recover()
        level = logging.WARNING if cut or problem else logging.INFO
        log.log(
            level,
            "%s: recovered %s (%s): kept %d bytes up to offset %d, cut %d bytes",
            name,
            segment.log_path.name,
            problem or "it may hold unflushed writes",
            segment.size,
            segment.next_offset,
            cut,
        )
        if cut and i + 1 < len(ordered):
            _drop_segments(directory, ordered[i + 1 :], name, segment.next_offset)
            break
    return segments


def _stored_headers(segments: list[Segment], start: int):
    """The headers of the stored batches from offset ``start`` (a batch boundary) on, read
    from the segment files; records are never looked at."""
    unpack_from = HEADER.unpack_from
    for segment in segments:
        size = segment.size
        if segment.next_offset <= start or size == 0:
            continue
        position = 0
        if start > segment.base_offset:
            first = segment.find(start)
            if first is None:
                continue
            position = first.position
        with ScannedFile(segment.file.fileno(), size) as scanned:
            view = scanned.view
            while position + HEADER_SIZE <= size:
                scanned.advance(position)
                fields = unpack_from(view, position)
                if fields[3] != MAGIC_V2 or fields[1] < HEADER_SIZE - LOG_OVERHEAD:
                    break  # cannot happen after recovery; never walk into garbage
                base_offset = fields[0]
                if base_offset >= start:
                    yield RawHeader(base_offset, fields[6], fields[8], *fields[9:12])
                position += LOG_OVERHEAD + fields[1]


def _drop_segments(directory: Path, bases: list[int], name: str, log_end: int) -> None:
    """Delete the segments at ``bases``: they follow a cut, or a gap, at ``log_end``."""
    for base in bases:
        for suffix in SEGMENT_SUFFIXES:
            (directory / file_stem(base)).with_suffix(suffix).unlink(missing_ok=True)
    log.warning(
        "%s: deleted %d segment(s) from %s.log on: the log now ends at offset %d before them",
        name,
        len(bases),
        file_stem(bases[0]),
        log_end,
    )
    fsync_directory(directory)


def _remove_segment_files(directory: Path, base: int) -> None:
    """Remove what a failed ``Segment.create`` left, as far as the disk allows: a new,
    empty segment with no data in it is only clutter, and recovery removes it anyway."""
    for suffix in SEGMENT_SUFFIXES:
        with contextlib.suppress(OSError):
            (directory / file_stem(base)).with_suffix(suffix).unlink(missing_ok=True)
