"""The data directory: every partition log under one root, and the root's checkpoints.

``<root>/.lock`` is held with an exclusive ``flock`` while a ``LogManager`` is open, so two
brokers never share a directory. ``.kafka_cleanshutdown`` exists only between a clean
``close`` and the next ``load``. The offset checkpoints are written by ``checkpoint`` (and
``close``); recovery points only ever advance after an fsync, so recovering from an older
checkpoint is always safe, just slower.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType

from broker.storage import faults
from broker.storage.checkpoint import fsync_directory, read_offsets, read_topic_id, write_offsets
from broker.storage.config import LogConfig
from broker.storage.errors import StorageError
from broker.storage.health import DiskHealth
from broker.storage.log import (
    DELETE_SUFFIX,
    STRAY_SUFFIX,
    PartitionLog,
    doomed_name,
    parse_partition_dir,
)
from broker.storage.producer_state import PRODUCER_ID_EXPIRATION_MS

log = logging.getLogger("broker.storage")

LOCK_FILE = ".lock"
CLEAN_SHUTDOWN_MARKER = ".kafka_cleanshutdown"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
HIGH_WATERMARK_CHECKPOINT = "replication-offset-checkpoint"
# The Raft runtime's own log (cluster mode): kept in the same root, never loaded or moved here.
METADATA_LOG_TOPIC = "__cluster_metadata"

TopicPartition = tuple[str, int]
# Threads that make or remove a topic's partition directories: their fsync waits overlap
# (3,000 partitions take a third of the time with 4 threads as with one).
FILE_WORKERS = 4
# Whether the metadata knows a partition directory: ``(topic, partition), topic id -> bool``.
Known = Callable[[TopicPartition, uuid.UUID], bool]


class LogManager:
    def __init__(
        self, root: Path, *, producer_id_expiration_ms: int = PRODUCER_ID_EXPIRATION_MS
    ) -> None:
        self.root = Path(root)
        self.producer_id_expiration_ms = producer_id_expiration_ms
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError as err:
            raise StorageError(
                f"cannot use data directory {self.root}: it exists and is not a directory"
            ) from err
        except OSError as err:
            raise StorageError(f"cannot create data directory {self.root}: {err.strerror}") from err
        try:
            self._lock_fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StorageError(
                f"cannot write to data directory {self.root}: {err.strerror}"
            ) from err
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(self._lock_fd)
            raise StorageError(
                f"data directory {self.root} is in use by another broker "
                f"(it holds {self.root / LOCK_FILE}); stop that broker or use another directory"
            ) from err
        if not os.access(self.root, os.W_OK | os.X_OK):
            self._release_lock()
            raise StorageError(f"cannot write to data directory {self.root}: permission denied")
        self._logs: dict[TopicPartition, PartitionLog] = {}
        self._high_watermarks: dict[TopicPartition, int] = {}
        self._on_flush_due: Callable[[int], None] | None = None
        self.disk = DiskHealth.of(self.root)
        self._loaded = False  # until ``load`` succeeds, ``close`` writes nothing

    @property
    def logs(self) -> Mapping[TopicPartition, PartitionLog]:
        return MappingProxyType(self._logs)

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        return self._logs.get((topic, partition))

    def load(
        self,
        config_for: Callable[[str], LogConfig],
        *,
        known: Known | None = None,
        doomed: Collection[uuid.UUID] = (),
    ) -> dict[TopicPartition, PartitionLog]:
        """Open every ``<topic>-<partition>`` directory under the root.

        Each log is recovered from its checkpointed recovery point (0 when it has none); after
        a clean shutdown that point is its log end and nothing is scanned. Log-start offsets
        and high watermarks come from their checkpoints. Directories left by an interrupted
        delete are removed, and so are those of a topic id in ``doomed`` (a create or delete
        the metadata never completed). A directory ``known`` does not know is a stray: it is
        moved aside as ``<topic>-<partition>.<uuid>-stray``, kept but no longer loaded, as
        Kafka does. A disk that refuses a read or write here raises StorageError.
        """
        try:
            loaded = self._load(config_for, known, doomed)
        except OSError as err:
            raise StorageError(
                f"cannot load data directory {self.root}: {err.strerror}"
                + (f" ({err.filename})" if err.filename else "")
            ) from err
        self._loaded = True
        return loaded

    def _load(
        self,
        config_for: Callable[[str], LogConfig],
        known: Known | None,
        doomed: Collection[uuid.UUID],
    ) -> dict[TopicPartition, PartitionLog]:
        started = time.monotonic()
        marker = self.root / CLEAN_SHUTDOWN_MARKER
        clean = marker.exists()
        if clean:
            marker.unlink()
            fsync_directory(self.root)
        recovery_points = read_offsets(self.root / RECOVERY_POINT_CHECKPOINT)
        log_starts = read_offsets(self.root / LOG_START_CHECKPOINT)
        high_watermarks = read_offsets(self.root / HIGH_WATERMARK_CHECKPOINT)
        for entry in sorted(self.root.iterdir()):
            if not entry.is_dir():
                continue
            if entry.name.endswith(DELETE_SUFFIX):
                log.info("removing %s, left by an interrupted delete", entry)
                shutil.rmtree(entry)
                continue
            key = parse_partition_dir(entry.name)
            if key is None or key[0] == METADATA_LOG_TOPIC:
                continue
            if known is not None or doomed:
                topic_id = read_topic_id(entry)
                if topic_id in doomed:
                    log.info("removing %s, left by an interrupted create or delete", entry)
                    _remove(entry)
                    continue
                if known is not None and not known(key, topic_id):
                    aside = doomed_name(entry, STRAY_SUFFIX)
                    log.warning(
                        "%s belongs to no topic in the metadata; moved aside as %s",
                        entry,
                        aside.name,
                    )
                    entry.rename(aside)
                    continue
            self._logs[key] = partition_log = PartitionLog.open(
                entry,
                config_for(key[0]),
                recovery_point=recovery_points.get(key, 0),
                log_start_offset=log_starts.get(key, 0),
            )
            partition_log.on_flush_due = self._on_flush_due
            self._high_watermarks[key] = high_watermarks.get(key, 0)
        log.info(
            "loaded %d partition logs from %s in %.0f ms (previous shutdown %s)",
            len(self._logs),
            self.root,
            (time.monotonic() - started) * 1000,
            "clean" if clean else "unclean" if recovery_points or self._logs else "none: new",
        )
        return dict(self._logs)

    def high_watermarks(self) -> dict[TopicPartition, int]:
        """The last checkpointed high watermarks, clamped into each log's offsets."""
        return {
            key: max(partition_log.log_start_offset, min(hw, partition_log.log_end_offset))
            for key, partition_log in self._logs.items()
            for hw in (self._high_watermarks.get(key, 0),)
        }

    def create(
        self, topic: str, partition: int, topic_id: uuid.UUID, config: LogConfig
    ) -> PartitionLog:
        (partition_log,) = self.make(topic, range(partition, partition + 1), topic_id, config)
        self.register([partition_log])
        return partition_log

    def make(
        self,
        topic: str,
        partitions: Sequence[int],
        topic_id: uuid.UUID,
        config: LogConfig,
        leader_epoch: int | None = None,
    ) -> list[PartitionLog]:
        """Create the directories of new partitions (with ``leader_epoch`` starting at offset
        0, when given) without registering them, so it may run in a worker thread. If one
        fails, those made are removed and the error raised. The work is mostly waiting for
        fsyncs, so a few threads share it."""
        made: list[PartitionLog] = []

        def make_one(partition: int) -> PartitionLog:
            if (topic, partition) in self._logs:
                raise StorageError(f"log {topic}-{partition} already exists")
            partition_log = PartitionLog.create(self.root, topic, partition, topic_id, config)
            made.append(partition_log)
            if leader_epoch is not None:
                partition_log.assign_epoch(leader_epoch, 0)
            if faults.ARMED:
                faults.reached("create-topic")
            return partition_log

        try:
            with ThreadPoolExecutor(min(FILE_WORKERS, len(partitions)) or 1) as pool:
                return list(pool.map(make_one, partitions))
        except BaseException:
            self.remove(made)  # every task has ended: leaving the pool waited for them
            raise

    def register(self, logs: list[PartitionLog]) -> None:
        """Serve logs made by ``make``."""
        for partition_log in logs:
            key = (partition_log.topic, partition_log.partition)
            self._logs[key] = partition_log
            self._high_watermarks[key] = 0
            partition_log.on_flush_due = self._on_flush_due

    def unregister(self, topic: str, partitions: range) -> list[PartitionLog]:
        """Stop serving these partitions' logs; they stay on disk until ``remove``."""
        for partition in partitions:
            self._high_watermarks.pop((topic, partition), None)
        return [self._logs.pop((topic, partition)) for partition in partitions]

    def delete(self, topic: str, partition: int) -> None:
        """Remove a partition's log (renamed to ``*-delete`` first, as Kafka does)."""
        self.remove(self.unregister(topic, range(partition, partition + 1)))

    @staticmethod
    def remove(logs: list[PartitionLog]) -> None:
        """Delete unregistered logs from disk, a few threads sharing the work; touches no
        shared state, so it may run in a worker thread."""

        def remove_one(partition_log: PartitionLog) -> None:
            partition_log.delete()
            if faults.ARMED:
                faults.reached("delete-topic")

        with ThreadPoolExecutor(min(FILE_WORKERS, len(logs)) or 1) as pool:
            list(pool.map(remove_one, logs))

    @staticmethod
    def rename_for_delete(logs: list[PartitionLog]) -> list[Path]:
        """Rename unregistered logs to their ``-delete`` names (Kafka's ``asyncDelete``): no
        load opens them from now on, and a new log of the same name may be made at once. One
        rename each, quick enough for the event loop; ``purge`` deletes them later."""
        return [partition_log.rename_for_delete() for partition_log in logs]

    def purge(self, renamed: list[Path]) -> None:
        """Delete directories ``rename_for_delete`` set aside (their renames made durable
        first). Touches no shared state, so it may run in a worker thread; directories a crash
        leaves behind are removed by the next ``load``."""
        fsync_directory(self.root)
        for directory in renamed:
            shutil.rmtree(directory)
            if faults.ARMED:
                faults.reached("delete-topic")

    def checkpoint(self, high_watermarks: Mapping[TopicPartition, int]) -> None:
        """Write the recovery-point, log-start and high-watermark checkpoints atomically.
        Partitions missing from ``high_watermarks`` keep their previous value. A disk that
        refuses the write is reported by ``disk``, once; the next pass tries again."""
        try:
            self._write_checkpoints(high_watermarks)
        except OSError as err:
            self.disk.failed("write the offset checkpoints", err)
        else:
            self.disk.succeeded()

    def _write_checkpoints(self, high_watermarks: Mapping[TopicPartition, int]) -> None:
        for key, hw in high_watermarks.items():
            if key in self._logs:
                self._high_watermarks[key] = hw
        logs = self._logs
        write_offsets(
            self.root / RECOVERY_POINT_CHECKPOINT,
            {key: partition_log.recovery_point for key, partition_log in logs.items()},
        )
        write_offsets(
            self.root / LOG_START_CHECKPOINT,
            {key: partition_log.log_start_offset for key, partition_log in logs.items()},
        )
        write_offsets(
            self.root / HIGH_WATERMARK_CHECKPOINT,
            {key: self._high_watermarks.get(key, 0) for key in logs},
        )

    def retention_pass(
        self, now_ms: int, high_watermarks: Mapping[TopicPartition, int] | None = None
    ) -> int:
        """Apply retention to every log, with ``high_watermarks`` never above them, and
        expire idle producer ids; returns the number of segments deleted."""
        hws = high_watermarks or {}
        deleted = 0
        for key, partition_log in self._logs.items():
            try:
                deleted += partition_log.delete_expired(now_ms, hws.get(key))
                partition_log.expire_producers(now_ms, self.producer_id_expiration_ms)
            except OSError as err:
                self.disk.failed(f"apply retention to {partition_log.name}", err)
        return deleted

    def flush_pass(self, now_ms: int) -> int | None:
        """fsync every log whose oldest unflushed write is flush.ms old; returns when the
        next flush comes due (None: every log is flushed). A log that failed to flush is due
        again at once."""
        next_due: int | None = None
        for partition_log in self._logs.values():
            if partition_log.needs_flush(now_ms):
                try:
                    partition_log.flush()
                except OSError as err:
                    self.disk.failed(f"flush {partition_log.name}", err)
            due = partition_log.flush_due_ms
            if due is not None and (next_due is None or due < next_due):
                next_due = due
        return next_due

    def watch_flush_due(self, on_flush_due: Callable[[int], None] | None) -> None:
        """Call ``on_flush_due(time_ms)`` whenever a log's flush comes due at a new time (a
        clean log written to, a changed flush.ms), for this manager's logs now and later."""
        self._on_flush_due = on_flush_due
        for partition_log in self._logs.values():
            partition_log.on_flush_due = on_flush_due

    def close(self, high_watermarks: Mapping[TopicPartition, int]) -> None:
        """Flush and close every log, checkpoint, mark the shutdown clean, release the lock.
        On a disk that refuses writes every file is still closed and the lock released; the
        shutdown is then not marked clean (the next start recovers) and StorageError says
        why."""
        if not self._loaded:  # a failed load: nothing to mark clean
            for partition_log in self._logs.values():
                partition_log.close_files()
            self._logs.clear()
            self._release_lock()
            return
        failure: OSError | None = None
        for partition_log in self._logs.values():
            try:
                partition_log.close()
            except OSError as err:
                failure = failure or err
                partition_log.close_files()
        if failure is None:
            try:
                self._write_checkpoints(high_watermarks)
                marker = self.root / CLEAN_SHUTDOWN_MARKER
                with open(marker, "wb") as file:
                    os.fsync(file.fileno())
                fsync_directory(self.root)
            except OSError as err:
                failure = err
        self._logs.clear()
        self._release_lock()
        if failure is not None:
            raise StorageError(
                f"could not shut down cleanly: cannot write to data directory {self.root}: "
                f"{failure.strerror}; the next start recovers the logs"
            ) from failure

    def _release_lock(self) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)


def _remove(directory: Path) -> None:
    """Rename a directory to a ``-delete`` name (durably), then delete it."""
    doomed = doomed_name(directory)
    directory.rename(doomed)
    fsync_directory(directory.parent)
    shutil.rmtree(doomed)
