"""The quorum's durable state: entries as record batches in ``__cluster_metadata-0`` and Kafka's
``quorum-state`` file, reloaded at open, surviving a crash in the middle of a write."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from broker.protocol.batch import read_header
from broker.raft import ElectionState, Entry
from broker.raft.store import METADATA_TOPIC_ID, RaftStore, metadata_log_dir
from broker.storage import LogConfig, LogManager
from broker.storage.checkpoint import read_epochs, read_topic_id
from broker.storage.errors import StorageError

VOTERS = (0, 1, 2)


def _entries() -> list[Entry]:
    return [
        Entry(1, b"", leader_change=True),
        Entry(1, b"a"),
        Entry(1, b"b"),
        Entry(3, b"", leader_change=True),
        Entry(3, b"c"),
    ]


def test_entries_are_reloaded_as_written(tmp_path):
    directory = metadata_log_dir(tmp_path)
    store = RaftStore.open(directory, VOTERS)
    store.write(0, _entries(), timestamp=1_000)
    store.close()

    reopened = RaftStore.open(directory, VOTERS)
    assert reopened.entries() == _entries()
    assert reopened.end_offset == 5
    assert directory.name == "__cluster_metadata-0"
    assert read_topic_id(directory) == METADATA_TOPIC_ID


def test_each_entry_is_one_batch_stamped_with_its_epoch(tmp_path):
    store = RaftStore.open(metadata_log_dir(tmp_path), VOTERS)
    store.write(0, _entries(), timestamp=1_000)
    data = store.log.read(0, 1 << 20, store.end_offset).read_bytes()
    headers, position = [], 0
    while position < len(data):
        headers.append(read_header(data, position))
        position += headers[-1].size
    assert [(h.base_offset, h.partition_leader_epoch, h.is_control) for h in headers] == [
        (0, 1, True),
        (1, 1, False),
        (2, 1, False),
        (3, 3, True),
        (4, 3, False),
    ]
    store.close()
    # The segment code's leader-epoch cache holds Raft's epochs too.
    assert read_epochs(metadata_log_dir(tmp_path) / "leader-epoch-checkpoint") == [(1, 0), (3, 3)]


def test_write_truncates_before_appending(tmp_path):
    store = RaftStore.open(metadata_log_dir(tmp_path), VOTERS)
    store.write(0, _entries(), timestamp=1_000)
    store.write(3, [Entry(2, b"x"), Entry(2, b"y")], timestamp=1_000)
    assert store.entries() == [*_entries()[:3], Entry(2, b"x"), Entry(2, b"y")]
    store.close()
    assert RaftStore.open(metadata_log_dir(tmp_path), VOTERS).entries()[3:] == [
        Entry(2, b"x"),
        Entry(2, b"y"),
    ]


def test_a_torn_tail_is_cut_at_open(tmp_path):
    directory = metadata_log_dir(tmp_path)
    store = RaftStore.open(directory, VOTERS)
    store.write(0, _entries(), timestamp=1_000)
    store.close()
    segment = directory / "00000000000000000000.log"
    whole = segment.read_bytes()
    with open(segment, "ab") as file:
        file.write(whole[:40])  # half a batch header: a write cut by a crash

    assert RaftStore.open(directory, VOTERS).entries() == _entries()


def test_quorum_state_is_kafkas_json(tmp_path):
    store = RaftStore.open(metadata_log_dir(tmp_path), VOTERS)
    assert store.election_state() == ElectionState()  # nothing written yet
    store.save_election_state(ElectionState(epoch=7, leader_id=2, voted_for=1))
    data = json.loads(store.state_path.read_text())
    assert data == {
        "clusterId": "",
        "leaderId": 2,
        "leaderEpoch": 7,
        "votedId": 1,
        "appliedOffset": 0,
        "currentVoters": [{"voterId": 0}, {"voterId": 1}, {"voterId": 2}],
        "data_version": 0,
    }
    store.close()
    reopened = RaftStore.open(metadata_log_dir(tmp_path), VOTERS)
    assert reopened.election_state() == ElectionState(epoch=7, leader_id=2, voted_for=1)


def test_a_malformed_quorum_state_is_one_clear_error(tmp_path):
    store = RaftStore.open(metadata_log_dir(tmp_path), VOTERS)
    store.state_path.write_text('{"leaderEpoch": 3}')
    with pytest.raises(StorageError, match=r"quorum-state.*leaderId, leaderEpoch and votedId"):
        store.election_state()


_SAVE_TWICE = """
import sys
from pathlib import Path
from broker.raft import ElectionState
from broker.raft.store import RaftStore
store = RaftStore.open(Path(sys.argv[1]), (0, 1, 2))
store.save_election_state(ElectionState(epoch=4, leader_id=-1, voted_for=1))
store.save_election_state(ElectionState(epoch=5, leader_id=-1, voted_for=2))
"""


def test_a_crash_while_saving_the_quorum_state_keeps_the_old_one(tmp_path):
    """SIGKILL once the new state's .tmp is written and fsynced, before the rename (the
    ``checkpoint`` crash point): the node restarts with the vote it had cast before, never a
    torn file and never a vote it did not make durable."""
    directory = metadata_log_dir(tmp_path)
    env = {**os.environ, "CHIRPSTREAM_FAULTS": "checkpoint@3"}  # topic id, state 1, state 2
    run = subprocess.run(
        [sys.executable, "-c", _SAVE_TWICE, str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == -9, run.stderr
    assert "FAULT checkpoint" in run.stderr
    assert (directory / "quorum-state.tmp").exists()
    store = RaftStore.open(directory, VOTERS)
    assert store.election_state() == ElectionState(epoch=4, leader_id=-1, voted_for=1)
    store.save_election_state(ElectionState(epoch=6, leader_id=0, voted_for=0))
    assert store.election_state() == ElectionState(epoch=6, leader_id=0, voted_for=0)


def test_the_partition_log_manager_leaves_the_metadata_log_alone(tmp_path):
    """The quorum's log sits in the data directory beside the partitions, but it is not a
    partition of any topic in the metadata: loading must neither open it twice nor move it
    aside as a stray (which would lose the quorum's state)."""
    store = RaftStore.open(metadata_log_dir(tmp_path), VOTERS)
    store.write(0, _entries(), timestamp=1_000)
    store.save_election_state(ElectionState(epoch=3, leader_id=0, voted_for=0))
    store.close()

    manager = LogManager(tmp_path)
    assert manager.load(lambda topic: LogConfig(), known=lambda key, topic_id: False) == {}
    manager.close({})
    reopened = RaftStore.open(metadata_log_dir(tmp_path), VOTERS)
    assert reopened.entries() == _entries()
    assert reopened.election_state() == ElectionState(epoch=3, leader_id=0, voted_for=0)


def _values(store: RaftStore) -> list[bytes]:
    return [e.value for e in store.entries() if not e.leader_change]


def test_a_snapshot_is_a_kafka_named_file_read_back_whole(tmp_path):
    directory = metadata_log_dir(tmp_path)
    store = RaftStore.open(directory, VOTERS)
    assert store.latest_snapshot() is None
    state = bytes(range(256)) * 9000  # over 2 MiB: several records
    store.save_snapshot(4, 3, state, timestamp=1_000)
    store.save_snapshot(2, 1, b"older", timestamp=1_000)
    assert sorted(p.name for p in directory.glob("*.checkpoint")) == [
        "00000000000000000002-0000000001.checkpoint",
        "00000000000000000004-0000000003.checkpoint",
    ]
    store.close()
    assert RaftStore.open(directory, VOTERS).latest_snapshot() == ((4, 3), state)


def test_a_snapshot_cut_short_by_a_crash_is_not_one(tmp_path):
    directory = metadata_log_dir(tmp_path)
    store = RaftStore.open(directory, VOTERS)
    store.save_snapshot(2, 1, b"whole", timestamp=1_000)
    store.close()
    (directory / "00000000000000000005-0000000002.checkpoint.part").write_bytes(b"\0" * 30)
    reopened = RaftStore.open(directory, VOTERS)
    assert reopened.latest_snapshot() == ((2, 1), b"whole")
    assert not list(directory.glob("*.part"))


def test_the_log_starts_at_a_snapshot_and_older_snapshots_go(tmp_path):
    directory = metadata_log_dir(tmp_path)
    store = RaftStore.open(directory, VOTERS)
    store.write(0, _entries(), timestamp=1_000)
    store.save_snapshot(2, 1, b"first", timestamp=1_000)
    store.save_snapshot(3, 1, b"second", timestamp=1_000)
    store.start_log_at(3)
    assert store.start_offset == 3
    assert store.entries() == _entries()[3:]
    assert store.snapshot_ids() == [(3, 1)]
    store.append([Entry(3, b"d")], timestamp=1_000)
    store.close()
    reopened = RaftStore.open(directory, VOTERS)
    # Only whole segments below the start are deleted: reopened, the log starts at its one
    # segment's base, before the snapshot. The core checks those entries agree with the
    # snapshot and drops them (it must not trust a start the store could not check).
    assert reopened.start_offset == 0
    assert reopened.entries() == [*_entries(), Entry(3, b"d")]


def test_a_log_behind_the_snapshot_starts_empty_at_its_end(tmp_path):
    directory = metadata_log_dir(tmp_path)
    store = RaftStore.open(directory, VOTERS)
    store.write(0, _entries()[:2], timestamp=1_000)
    store.save_snapshot(10, 4, b"from the leader", timestamp=1_000)
    store.truncate(0)
    store.start_log_at(10)
    assert (store.start_offset, store.end_offset, store.entries()) == (10, 10, [])
    store.append([Entry(5, b"", leader_change=True), Entry(5, b"next")], timestamp=1_000)
    store.close()
    reopened = RaftStore.open(directory, VOTERS)
    assert (reopened.start_offset, reopened.end_offset) == (10, 12)
    assert _values(reopened) == [b"next"]
    assert reopened.latest_snapshot() == ((10, 4), b"from the leader")
