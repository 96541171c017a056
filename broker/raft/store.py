"""The quorum's durable state: the metadata log, its snapshots and Kafka's ``quorum-state``.

All live in ``<data_dir>/__cluster_metadata-0/``. The log is a ``PartitionLog`` (the segment
code every partition uses) of topic ``__cluster_metadata`` with Kafka's fixed metadata topic
id, each entry one record batch (``broker.raft.batches``). ``quorum-state`` is the JSON Kafka's
``FileQuorumStateStore`` writes (data version 0: clusterId, leaderId, leaderEpoch, votedId,
appliedOffset, currentVoters), replaced atomically and fsynced, so a crash leaves the old state
or the new one. The log is recovered from its start at every open: a torn tail is cut.

Snapshots (KIP-630) are files named as Kafka names them, ``<end offset, 20 digits>-<epoch, 10
digits>.checkpoint``, holding record batches as Kafka lays them out (``batches``), written as
``.checkpoint.part``, fsynced and renamed, so only whole snapshots ever carry the final name.
Once the log starts at a snapshot's end, the entries below it and older snapshots go.

A ``RaftStore`` is not thread-safe: the runtime calls it from one worker thread at a time.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from broker.protocol.batch import read_header
from broker.protocol.errors import RecordError
from broker.raft.batches import decode, decode_snapshot, encode, encode_snapshot
from broker.raft.core import ElectionState
from broker.raft.messages import Entry
from broker.storage.checkpoint import fsync_directory, write_atomically
from broker.storage.config import LogConfig
from broker.storage.errors import StorageError
from broker.storage.log import PartitionLog, partition_dir_name

METADATA_TOPIC = "__cluster_metadata"
METADATA_TOPIC_ID = uuid.UUID(int=1)  # Kafka's Uuid.METADATA_TOPIC_ID
QUORUM_STATE = "quorum-state"
QUORUM_STATE_VERSION = 0
SNAPSHOT_SUFFIX = ".checkpoint"
PARTIAL_SUFFIX = ".checkpoint.part"
_SNAPSHOT_FILE = re.compile(r"(\d{20})-(\d{10})\.checkpoint")
_SEGMENT_OR_STATE_FILE = re.compile(
    r"\d{20}\.(log|index|timeindex|snapshot)|leader-epoch-checkpoint"
)
_READ_BYTES = 1 << 20
# Raft fsyncs after every write itself; the log must never be deleted by retention.
_LOG_CONFIG = LogConfig(retention_ms=-1, retention_bytes=-1)


logger = logging.getLogger("broker.raft")


def snapshot_file_name(end_offset: int, epoch: int) -> str:
    """Kafka's name for the snapshot of every entry below ``end_offset`` (last one's ``epoch``)."""
    return f"{end_offset:020d}-{epoch:010d}{SNAPSHOT_SUFFIX}"


def metadata_log_dir(data_dir: Path) -> Path:
    """Where a node keeps the quorum's state: ``<data_dir>/__cluster_metadata-0``."""
    return data_dir / partition_dir_name(METADATA_TOPIC, 0)


class RaftStore:
    def __init__(self, log: PartitionLog, voters: Iterable[int]) -> None:
        self.log = log
        self.voters = sorted(voters)
        self.state_path = log.directory / QUORUM_STATE

    @classmethod
    def open(cls, directory: Path, voters: Iterable[int]) -> RaftStore:
        """Open (or create) the metadata log in ``directory`` (see ``metadata_log_dir``)."""
        if directory.exists():
            log = PartitionLog.open(directory, _LOG_CONFIG, recovery_point=0)
        else:
            directory.parent.mkdir(parents=True, exist_ok=True)
            log = PartitionLog.create(
                directory.parent, METADATA_TOPIC, 0, METADATA_TOPIC_ID, _LOG_CONFIG
            )
        if log.directory.name != partition_dir_name(METADATA_TOPIC, 0):
            log.close()
            raise StorageError(f"{directory} is not a {METADATA_TOPIC}-0 directory")
        for partial in directory.glob("*" + PARTIAL_SUFFIX):
            partial.unlink()  # a snapshot whose writing a crash cut short
        return cls(log, voters)

    @property
    def end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def start_offset(self) -> int:
        """The offset of the first entry held (the end of a snapshot once one replaced the
        entries before it)."""
        return self.log.log_start_offset

    # ---- quorum-state -------------------------------------------------------------------

    def election_state(self) -> ElectionState:
        """What ``quorum-state`` holds; the initial state when there is none yet."""
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ElectionState()
        except OSError as err:
            raise StorageError(f"cannot read {self.state_path}: {err.strerror}") from err
        try:
            data = json.loads(text)
            return ElectionState(
                epoch=int(data["leaderEpoch"]),
                leader_id=int(data["leaderId"]),
                voted_for=int(data["votedId"]),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise StorageError(
                f"{self.state_path} is malformed ({err!r}); expected Kafka's quorum-state JSON "
                "with leaderId, leaderEpoch and votedId"
            ) from err

    def save_election_state(self, state: ElectionState) -> None:
        """Replace ``quorum-state`` atomically; it is durable when this returns."""
        data = {
            "clusterId": "",
            "leaderId": state.leader_id,
            "leaderEpoch": state.epoch,
            "votedId": state.voted_for,
            "appliedOffset": 0,
            "currentVoters": [{"voterId": voter} for voter in self.voters],
            "data_version": QUORUM_STATE_VERSION,
        }
        write_atomically(self.state_path, json.dumps(data, separators=(",", ":")))

    # ---- the log ------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """Every entry of the log, in offset order (read at start)."""
        log = self.log
        start = log.log_start_offset
        entries: list[Entry] = []
        while start + len(entries) < log.log_end_offset:
            chunk = log.read(start + len(entries), _READ_BYTES, log.log_end_offset)
            if chunk is None:
                break
            for offset, entry in decode(chunk.read_bytes()):
                if offset < start:
                    continue  # below the start, in the batch's segment still
                if offset != start + len(entries):
                    raise StorageError(f"{log.directory}: entry at offset {offset} is out of place")
                entries.append(entry)
        return entries

    def write(self, log_from: int, entries: Sequence[Entry], timestamp: int) -> None:
        """Truncate the log to ``log_from``, append ``entries`` and fsync (what a ``Ready``
        with ``log_from`` set asks)."""
        self.truncate(log_from)
        self.append(entries, timestamp)

    def truncate(self, log_from: int) -> None:
        """Drop the entry at ``log_from`` and every one after (all of them from the start)."""
        log = self.log
        if log_from > log.log_end_offset:
            end = log.log_end_offset
            raise StorageError(f"cannot write at offset {log_from}: the log ends at {end}")
        log.truncate_to(max(log_from, log.log_start_offset))

    def append(self, entries: Sequence[Entry], timestamp: int) -> None:
        """Append ``entries`` at the end of the log and fsync."""
        log = self.log
        start = 0
        while start < len(entries):  # one append per run of one epoch: it stamps that epoch
            epoch = entries[start].epoch
            end = start
            while end < len(entries) and entries[end].epoch == epoch:
                end += 1
            data = bytearray(encode(entries[start:end], log.log_end_offset, timestamp))
            headers, position = [], 0
            while position < len(data):
                header = read_header(data, position)
                headers.append(header)
                position += header.size
            log.append(data, headers, epoch, timestamp)
            start = end
        log.flush()

    # ---- snapshots ----------------------------------------------------------------------

    def snapshot_ids(self) -> list[tuple[int, int]]:
        """``(end_offset, epoch)`` of every whole snapshot held, oldest first."""
        found = []
        for path in self.log.directory.iterdir():
            match = _SNAPSHOT_FILE.fullmatch(path.name)
            if match:
                found.append((int(match[1]), int(match[2])))
        return sorted(found)

    def latest_snapshot(self) -> tuple[tuple[int, int], bytes] | None:
        """The newest snapshot's id and state; None when there is none."""
        found = self.latest_snapshot_file()
        if found is None:
            return None
        (end, epoch), content = found
        try:
            return (end, epoch), decode_snapshot(content)
        except RecordError as err:
            path = self.log.directory / snapshot_file_name(end, epoch)
            raise StorageError(f"cannot read snapshot {path}: {err}") from err

    def latest_snapshot_file(self) -> tuple[tuple[int, int], bytes] | None:
        """The newest snapshot's id and its file's content as it is (what FetchSnapshot
        serves); None when there is none."""
        ids = self.snapshot_ids()
        if not ids:
            return None
        end, epoch = ids[-1]
        path = self.log.directory / snapshot_file_name(end, epoch)
        try:
            return (end, epoch), path.read_bytes()
        except OSError as err:
            raise StorageError(f"cannot read snapshot {path}: {err}") from err

    def save_snapshot(self, end_offset: int, epoch: int, data: bytes, timestamp: int) -> None:
        """Write the snapshot of state ``data`` durably (see ``save_snapshot_file``)."""
        self.save_snapshot_file(
            end_offset, epoch, encode_snapshot(data, end_offset, epoch, timestamp)
        )

    def save_snapshot_file(self, end_offset: int, epoch: int, content: bytes) -> None:
        """Write a snapshot file's ``content`` (``batches.encode_snapshot``) durably: as
        ``.checkpoint.part``, fsynced, renamed into place."""
        directory = self.log.directory
        final = directory / snapshot_file_name(end_offset, epoch)
        partial = final.with_name(final.name.removesuffix(SNAPSHOT_SUFFIX) + PARTIAL_SUFFIX)
        with open(partial, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, final)
        fsync_directory(directory)

    def start_log_at(self, offset: int) -> None:
        """The log now starts at ``offset``, a snapshot's end: the entries below it go (all of
        them, and the log starts empty there, when it ends before ``offset``), and so do the
        snapshots older than the one ending there."""
        log = self.log
        if offset > log.log_end_offset:
            self._restart_empty_at(offset)
        elif offset > log.log_start_offset:
            log.advance_log_start(offset)
            log.delete_expired(0)  # retention is off: only segments wholly below the start go
        for end, epoch in self.snapshot_ids():
            if end < offset:
                (log.directory / snapshot_file_name(end, epoch)).unlink()
        fsync_directory(log.directory)

    def _restart_empty_at(self, offset: int) -> None:
        """Kafka's ``truncateFullyAndStartAt``: every segment goes, an empty one starts at
        ``offset``. A crash halfway leaves a log the core cuts again at the next start."""
        directory = self.log.directory
        self.log.close_files()
        for path in directory.iterdir():
            if _SEGMENT_OR_STATE_FILE.fullmatch(path.name):
                path.unlink()
        fsync_directory(directory)
        self.log = PartitionLog.open(
            directory, _LOG_CONFIG, recovery_point=0, log_start_offset=offset
        )
        logger.info("%s: log emptied to start at offset %d", directory.name, offset)

    def close(self) -> None:
        self.log.close()
