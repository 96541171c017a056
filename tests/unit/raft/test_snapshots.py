"""Snapshots (KIP-630) rule by rule on a manual clock: the state machine's snapshot moves the log
start, a restart resumes from (snapshot, entries after it), a follower below the leader's log
start downloads the snapshot with FetchSnapshot in chunks and fetches on from its end, and a
crash half-way through installing one is recovered from."""

from __future__ import annotations

import random

import pytest
from kio.schema.errors import ErrorCode

from broker.raft import (
    ElectionState,
    Entry,
    QuorumConfig,
    RaftCore,
    Role,
    Snapshot,
    SnapshotId,
)
from broker.raft.log import RaftLog
from broker.raft.messages import FetchResponse, FetchSnapshotRequest, FetchSnapshotResponse
from tests.unit.raft.harness import Quorum, between, fetch, leader_of, take

CHUNKED = QuorumConfig(fetch_snapshot_max_bytes=32)


def committed_quorum(values: int, config: QuorumConfig = CHUNKED) -> tuple[Quorum, RaftCore]:
    """Three voters with a leader and ``values`` entries (after its LeaderChange) applied by
    every node."""
    quorum = Quorum(3, config=config)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    leader.append([f"v{i}".encode() for i in range(values)])
    quorum.flush(leader.node_id)
    quorum.settle(lambda: all(len(a) == values + 1 for a in quorum.applied.values()))
    return quorum, leader


def test_a_snapshot_moves_the_log_start_and_a_restart_resumes_from_it() -> None:
    quorum, leader = committed_quorum(5)
    follower = next(n for n in quorum.cores if n != leader.node_id)
    core = quorum.cores[follower]
    entries = list(core.log.entries)

    snapshot_id = core.take_snapshot(4, b"state after 4")
    assert snapshot_id == SnapshotId(4, entries[3].epoch)
    assert (core.log.start_offset, core.log.entries) == (4, entries[4:])
    quorum.flush(follower)
    ready = quorum.readies[follower][-1]
    assert ready.snapshot == Snapshot(snapshot_id, b"state after 4")
    assert ready.log_start_offset == 4 and ready.load_snapshot is None
    disk = quorum.disks[follower]
    assert (disk.snapshot, disk.log_start, disk.log) == (ready.snapshot, 4, entries[4:])

    quorum.kill(follower)
    restarted = quorum.start(follower)
    assert (restarted.log.start_offset, restarted.log.end_offset) == (4, 6)
    assert restarted.high_watermark == 4
    # The state machine starts from the snapshot, then applies what is committed after it.
    assert quorum.loaded[follower] == ready.snapshot
    leader.append([b"after"])
    quorum.flush(leader.node_id)
    quorum.settle(lambda: len(quorum.applied[follower]) == 3)
    assert quorum.applied[follower] == [*entries[4:], Entry(leader.epoch, b"after")]


def test_a_snapshot_must_end_within_what_the_state_machine_applied() -> None:
    _, leader = committed_quorum(2)
    leader.append([b"not yet committed"])
    with pytest.raises(ValueError, match="last applied offset 3"):
        leader.take_snapshot(4, b"")
    leader.take_snapshot(2, b"")
    with pytest.raises(ValueError, match="after the log start 2"):
        leader.take_snapshot(2, b"")


def test_a_far_behind_follower_loads_the_leaders_snapshot_in_chunks_then_fetches_on() -> None:
    quorum, leader = committed_quorum(1)
    behind = next(n for n in quorum.cores if n != leader.node_id)
    other = next(n for n in quorum.cores if n not in (leader.node_id, behind))
    quorum.kill(behind)
    leader.append([f"w{i}".encode() for i in range(10)])
    quorum.flush(leader.node_id)
    quorum.settle(
        lambda: len(quorum.applied[leader.node_id]) == 12, link=between(leader.node_id, other)
    )
    data = bytes(range(100))
    snapshot_id = leader.take_snapshot(10, data)
    quorum.flush(leader.node_id)

    follower = quorum.start(behind)
    quorum.settle(lambda: len(quorum.applied[behind]) == 2)

    told = [m for m in quorum.delivered if isinstance(m, FetchResponse) and m.snapshot_id]
    assert told[0].destination == behind and told[0].snapshot_id == snapshot_id
    asked = [m for m in quorum.delivered if isinstance(m, FetchSnapshotRequest)]
    assert [(m.snapshot_id, m.position) for m in asked] == [
        (snapshot_id, p) for p in (0, 32, 64, 96)
    ]
    chunks = [m for m in quorum.delivered if isinstance(m, FetchSnapshotResponse)]
    assert [(m.position, len(m.data), m.size) for m in chunks] == [
        (0, 32, 100),
        (32, 32, 100),
        (64, 32, 100),
        (96, 4, 100),
    ]
    installed = next(r for r in quorum.readies[behind] if r.snapshot is not None)
    assert installed.snapshot == Snapshot(snapshot_id, data) == installed.load_snapshot
    assert installed.log_start_offset == 10
    assert quorum.loaded[behind] == installed.snapshot
    assert quorum.applied[behind] == leader.log.entries  # the two entries after the snapshot
    assert (follower.log.start_offset, follower.log.entries) == (10, leader.log.entries)
    disk = quorum.disks[behind]
    assert (disk.snapshot, disk.log_start, disk.log) == (installed.snapshot, 10, leader.log.entries)


@pytest.mark.parametrize("lost", [2, 3, 8], ids=["ends-below", "ends-at", "ends-beyond"])
def test_a_follower_whose_log_parts_before_the_snapshot_drops_all_of_it(lost: int) -> None:
    quorum, first = committed_quorum(1)
    follower, other = [n for n in quorum.cores if n != first.node_id]
    # The old leader, cut off, takes entries nobody else will ever see: its log ends below,
    # at or beyond the end of the snapshot the new leader takes.
    first.append([f"lost-{i}".encode() for i in range(lost)])
    quorum.flush(first.node_id)
    quorum.settle(lambda: (quorum.leader() or first) is not first, link=between(follower, other))
    new = quorum.leader()
    assert new is not None
    new.append([b"kept-1", b"kept-2", b"kept-3"])
    quorum.flush(new.node_id)
    quorum.settle(lambda: len(quorum.applied[new.node_id]) == 6, link=between(follower, other))
    snapshot_id = new.take_snapshot(5, b"state")
    assert snapshot_id.epoch == new.epoch > first.log.last_epoch
    quorum.flush(new.node_id)

    quorum.settle(lambda: first.role is Role.FOLLOWER and quorum.loaded[first.node_id] is not None)
    quorum.settle(lambda: first.log.end_offset == 6)
    assert (first.log.start_offset, first.log.entries) == (5, new.log.entries)
    installed = next(r for r in quorum.readies[first.node_id] if r.snapshot is not None)
    # Every entry goes (from its old start, 0), then the log starts at the snapshot's end.
    assert (installed.log_from, installed.log_start_offset) == (0, 5)
    assert installed.load_snapshot == installed.snapshot
    disk = quorum.disks[first.node_id]
    assert (disk.log_start, disk.log) == (5, new.log.entries)


def leader_with_snapshot() -> tuple[RaftCore, Snapshot]:
    """Leader of epoch 2 over three voters, its log starting at a snapshot ending at 3."""
    leader = leader_of(2, [Entry(1, b"a"), Entry(1, b"b")])
    fetch(leader, 1, offset=3, last_epoch=2)
    take(leader)
    leader.take_snapshot(3, b"0123456789")
    take(leader)
    assert leader.latest_snapshot is not None
    return leader, leader.latest_snapshot


@pytest.mark.parametrize(
    ("offset", "last_epoch"),
    [(0, 0), (2, 1), (3, 1), (4, 1)],
    ids=["below-start", "below-start-too", "at-start-other-epoch", "older-epoch"],
)
def test_a_fetch_the_log_cannot_serve_is_told_the_snapshot_id(offset: int, last_epoch: int) -> None:
    leader, snapshot = leader_with_snapshot()
    answer = fetch(leader, 2, offset=offset, last_epoch=last_epoch)
    assert answer.snapshot_id == snapshot.snapshot_id == SnapshotId(3, 2)
    assert answer.records == () and answer.diverging_epoch is None


def test_a_fetch_from_the_snapshots_end_is_served_from_the_log() -> None:
    leader, _ = leader_with_snapshot()
    leader.append([b"c"])
    take(leader)
    answer = fetch(leader, 2, offset=3, last_epoch=2)
    assert answer.snapshot_id is None
    assert answer.records == (Entry(2, b"c"),)


def fetch_snapshot(core: RaftCore, epoch: int, snapshot_id: SnapshotId, position: int):
    core.step(FetchSnapshotRequest(2, core.node_id, 9, epoch, snapshot_id, position, 4))
    (answer,) = [m for m in take(core) if isinstance(m, FetchSnapshotResponse)]
    return answer


def test_fetch_snapshot_answers_kafkas_errors() -> None:
    leader, snapshot = leader_with_snapshot()
    sid = snapshot.snapshot_id
    ok = fetch_snapshot(leader, 2, sid, 8)
    assert (ok.error, ok.position, ok.data, ok.size) == (ErrorCode.none, 8, b"89", 10)
    assert fetch_snapshot(leader, 2, SnapshotId(2, 1), 0).error is ErrorCode.snapshot_not_found
    assert fetch_snapshot(leader, 2, sid, 10).error is ErrorCode.position_out_of_range
    assert fetch_snapshot(leader, 2, sid, -1).error is ErrorCode.position_out_of_range
    assert fetch_snapshot(leader, 1, sid, 0).error is ErrorCode.fenced_leader_epoch
    assert fetch_snapshot(leader, 3, sid, 0).error is ErrorCode.unknown_leader_epoch
    follower = RaftCore(
        1, frozenset({0, 1, 2}), now_ms=0, rng=random.Random(0), election_state=ElectionState(2, 0)
    )
    take(follower)
    assert fetch_snapshot(follower, 2, sid, 0).error is ErrorCode.not_leader_or_follower


def test_a_follower_that_loses_the_snapshot_it_downloads_asks_again() -> None:
    quorum, leader = committed_quorum(1, config=QuorumConfig(fetch_snapshot_max_bytes=4))
    behind = next(n for n in quorum.cores if n != leader.node_id)
    quorum.kill(behind)
    leader.append([b"w", b"x", b"y", b"z"])
    quorum.flush(leader.node_id)
    quorum.settle(lambda: len(quorum.applied[leader.node_id]) == 6)
    first = leader.take_snapshot(4, b"first snapshot")
    quorum.flush(leader.node_id)
    quorum.start(behind)
    # The download begins; then the leader replaces that snapshot with a newer one.
    while not any(isinstance(m, FetchSnapshotResponse) for m in quorum.delivered):
        if not quorum.deliver():
            quorum.advance(5)
    second = leader.take_snapshot(6, b"second")
    quorum.flush(leader.node_id)
    quorum.settle(lambda: quorum.loaded[behind] is not None)
    answers = [m for m in quorum.delivered if isinstance(m, FetchSnapshotResponse)]
    assert [(m.snapshot_id, m.error) for m in answers] == [
        (first, ErrorCode.none),
        (first, ErrorCode.snapshot_not_found),
        (second, ErrorCode.none),
        (second, ErrorCode.none),
    ]
    assert quorum.loaded[behind] == Snapshot(second, b"second")


@pytest.mark.parametrize(
    ("log", "start", "entries", "ready_from"),
    [
        # The snapshot reached the disk, the old log was still whole: it agrees at offset 2,
        # so the entries after the snapshot stay.
        (
            [Entry(1, b"a"), Entry(1, b"b"), Entry(2, b"c"), Entry(2, b"d")],
            3,
            [Entry(2, b"d")],
            None,
        ),
        # It disagrees at offset 2 (a divergent log): all of it goes.
        ([Entry(1, b"a"), Entry(1, b"b"), Entry(1, b"c"), Entry(1, b"d")], 3, [], 0),
        # It is shorter than the snapshot: all of it goes.
        ([Entry(1, b"a")], 3, [], 0),
    ],
    ids=["agrees", "diverges", "shorter"],
)
def test_a_restart_after_a_crash_half_way_through_an_install(
    log: list[Entry], start: int, entries: list[Entry], ready_from: int | None
) -> None:
    snapshot = Snapshot(SnapshotId(3, 2), b"s")
    core = RaftCore(
        1,
        frozenset({0, 1, 2}),
        now_ms=0,
        rng=random.Random(0),
        snapshot=snapshot,
        log=log,
        log_start_offset=0,
    )
    assert (core.log.start_offset, core.log.entries, core.log.last_epoch) == (3, entries, 2)
    ready = core.ready()
    assert (ready.log_from, ready.log_start_offset) == (ready_from, 3)
    assert ready.snapshot is None  # it is on disk already
    assert ready.load_snapshot == snapshot and ready.committed == ()


def test_a_log_that_starts_after_its_snapshot_is_refused() -> None:
    with pytest.raises(ValueError, match="gap"):
        RaftCore(0, frozenset({0}), now_ms=0, rng=random.Random(0), log_start_offset=2)


def test_the_epoch_cache_survives_a_snapshot_in_the_middle_of_an_epoch() -> None:
    log = RaftLog([Entry(1, b"a"), Entry(1, b"b"), Entry(3, b"c"), Entry(3, b"d")])
    log.drop_before(SnapshotId(3, 3))
    assert (log.start_offset, log.entries, log.epoch_starts) == (3, [Entry(3, b"d")], [(3, 3)])
    assert log.end_offset_for_epoch(3) == (3, 4)
    assert log.end_offset_for_epoch(2) == (3, 3)  # before every entry held: the snapshot's
    log.reset(SnapshotId(7, 4))
    assert (log.end_offset, log.last_epoch, log.epoch_at(6), log.epoch_at(7)) == (7, 4, 4, None)
    log.append([Entry(4, b"e")])
    assert log.epoch_starts == [(4, 7)] and log.end_offset_for_epoch(5) == (4, 8)
