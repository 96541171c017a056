"""The quorum's durable state: the metadata log and Kafka's ``quorum-state`` file.

Both live in ``<data_dir>/__cluster_metadata-0/``. The log is a ``PartitionLog`` (the segment
code every partition uses) of topic ``__cluster_metadata`` with Kafka's fixed metadata topic
id, each entry one record batch (``broker.raft.batches``). ``quorum-state`` is the JSON Kafka's
``FileQuorumStateStore`` writes (data version 0: clusterId, leaderId, leaderEpoch, votedId,
appliedOffset, currentVoters), replaced atomically and fsynced, so a crash leaves the old state
or the new one. The log is recovered from offset 0 at every open: a torn tail is cut.

A ``RaftStore`` is not thread-safe: the runtime calls it from one worker thread at a time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from broker.protocol.batch import read_header
from broker.raft.batches import decode, encode
from broker.raft.core import ElectionState
from broker.raft.messages import Entry
from broker.storage.checkpoint import write_atomically
from broker.storage.config import LogConfig
from broker.storage.errors import StorageError
from broker.storage.log import PartitionLog, partition_dir_name

METADATA_TOPIC = "__cluster_metadata"
METADATA_TOPIC_ID = uuid.UUID(int=1)  # Kafka's Uuid.METADATA_TOPIC_ID
QUORUM_STATE = "quorum-state"
QUORUM_STATE_VERSION = 0
_READ_BYTES = 1 << 20
# Raft fsyncs after every write itself; the log must never be deleted by retention.
_LOG_CONFIG = LogConfig(retention_ms=-1, retention_bytes=-1)


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
        return cls(log, voters)

    @property
    def end_offset(self) -> int:
        return self.log.log_end_offset

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
        entries: list[Entry] = []
        while len(entries) < log.log_end_offset:
            chunk = log.read(len(entries), _READ_BYTES, log.log_end_offset)
            if chunk is None:
                break
            for offset, entry in decode(chunk.read_bytes()):
                if offset != len(entries):
                    raise StorageError(f"{log.directory}: entry at offset {offset} is out of place")
                entries.append(entry)
        return entries

    def write(self, log_from: int, entries: Sequence[Entry], timestamp: int) -> None:
        """Truncate the log to ``log_from``, append ``entries`` and fsync (what a ``Ready``
        with ``log_from`` set asks)."""
        log = self.log
        if log_from > log.log_end_offset:
            end = log.log_end_offset
            raise StorageError(f"cannot write at offset {log_from}: the log ends at {end}")
        log.truncate_to(log_from)
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

    def close(self) -> None:
        self.log.close()
