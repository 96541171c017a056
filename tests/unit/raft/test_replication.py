"""Replication rule by rule on a manual clock: pull by Fetch, truncation on a diverging epoch,
the high watermark (a majority, and only with an entry of the leader's epoch), check-quorum,
EndQuorumEpoch handover, observers and DescribeQuorum."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from broker.raft import Entry, NotLeaderError, RaftCore, Role, leader_change
from broker.raft.messages import (
    DivergingEpoch,
    EndQuorumEpochRequest,
    FetchRequest,
    FetchResponse,
    Message,
    VoteRequest,
)
from tests.unit.raft.harness import CONFIG, Quorum, between, fetch, leader_of, take


def test_a_diverging_follower_is_told_where_its_log_parts_and_truncates() -> None:
    leader = leader_of(3, [Entry(1, b"a"), Entry(1, b"b")])
    answer = fetch(leader, 1, offset=4, last_epoch=2)
    assert answer.diverging_epoch == DivergingEpoch(epoch=1, end_offset=2)
    assert answer.records == ()

    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    first = quorum.leader()
    assert first is not None
    quorum.settle(lambda: all(len(a) == 1 for a in quorum.applied.values()))
    follower, other = [n for n in quorum.cores if n != first.node_id]
    # The old leader, cut off, takes entries nobody else will ever see.
    first.append([b"lost-1", b"lost-2"])
    quorum.flush(first.node_id)
    quorum.settle(
        lambda: (quorum.leader() or first) is not first,
        link=between(follower, other),
    )
    new = quorum.leader()
    assert new is not None
    new.append([b"kept"])
    quorum.flush(new.node_id)
    quorum.settle(lambda: first.role is Role.FOLLOWER and b"kept" in values(first))
    assert values(first) == values(new)
    assert b"lost-1" not in values(first)
    assert quorum.disks[first.node_id].log == new.log.entries  # the truncation was persisted


def values(core: RaftCore) -> list[bytes]:
    return [e.value for e in core.log.entries if not e.leader_change]


def test_the_high_watermark_needs_an_entry_of_the_leaders_epoch_on_a_majority() -> None:
    old = [Entry(1, b"a"), Entry(1, b"b")]
    leader = leader_of(2, old)
    change = leader.log.entries[2]
    assert change.leader_change and change.epoch == 2
    assert leader_change.decode(change.value).leader_id == leader.node_id
    # A follower holding everything from epoch 1 is not enough to commit it.
    assert fetch(leader, 1, offset=2, last_epoch=1).high_watermark == 0
    assert leader.high_watermark == 0
    # Once the LeaderChange record of epoch 2 is on a majority, all of it is committed.
    assert fetch(leader, 1, offset=3, last_epoch=2).high_watermark == 3
    # The other follower lagging behind does not hold the majority back.
    assert fetch(leader, 2, offset=0, last_epoch=0).high_watermark == 3


def test_the_leader_counts_its_own_entries_only_once_fsynced() -> None:
    leader = leader_of(2, [])
    fetch(leader, 1, offset=1, last_epoch=2)
    assert leader.high_watermark == 1
    leader.append([b"x"])  # not yet taken with ready(), so not yet on disk
    leader.step(FetchRequest(1, leader.node_id, 8, leader.epoch, 2, 2))
    assert leader.high_watermark == 1  # one follower alone is not a majority of three
    take(leader)  # persisted: now the leader and that follower are a majority
    assert leader.high_watermark == 2


def test_a_follower_never_learns_a_high_watermark_past_its_own_log() -> None:
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    leader.append([b"x"] * 200)  # more than one Fetch answer holds
    quorum.flush(leader.node_id)
    quorum.settle(lambda: all(len(a) == 201 for a in quorum.applied.values()))
    for node_id, applied in quorum.applied.items():
        assert applied == leader.log.entries, node_id


def test_a_leader_that_hears_no_majority_resigns() -> None:
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    follower = next(n for n in quorum.cores if n != leader.node_id)
    # Only one follower still fetches: with the leader that is a majority; it stays.
    start = quorum.now
    quorum.settle(
        lambda: quorum.now - start > 3 * CONFIG.fetch_timeout_ms,
        link=between(leader.node_id, follower),
    )
    assert leader.role is Role.LEADER
    # Nobody fetches: 1.5 fetch timeouts after the last fetch it resigns (KAFKA-15489); that
    # fetch came in at most one hold (fetch_max_wait_ms) before the links were cut.
    start = quorum.now
    took = quorum.settle(lambda: leader.role is not Role.LEADER, link=lambda m: False)
    assert leader.role is Role.RESIGNED
    check_quorum_ms = CONFIG.fetch_timeout_ms * 3 // 2
    assert check_quorum_ms - CONFIG.fetch_max_wait_ms <= took <= check_quorum_ms + 10
    with pytest.raises(NotLeaderError):
        leader.append([b"too late"])


def test_a_resigning_leader_hands_over_at_once() -> None:
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    leader.append([b"a", b"b"])
    quorum.flush(leader.node_id)
    quorum.settle(lambda: all(len(a) == 3 for a in quorum.applied.values()))
    leader.resign()
    quorum.flush(leader.node_id)
    ends = [m for m in quorum.mailbox if isinstance(m, EndQuorumEpochRequest)]
    assert len(ends) == 2
    end = ends[0]
    assert end.leader_epoch == leader.epoch and len(end.preferred_successors) == 2
    # The preferred successor is elected well inside one fetch timeout.
    took = quorum.settle(lambda: (new := quorum.leader()) is not None and new is not leader)
    assert took < CONFIG.fetch_timeout_ms // 2
    new = quorum.leader()
    assert new is not None and new.node_id in end.preferred_successors


def test_an_observer_follows_the_log_and_never_votes() -> None:
    quorum = Quorum(3, observers=1)
    observer = quorum.cores[3]
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    leader.append([b"a"])
    quorum.flush(leader.node_id)
    quorum.settle(lambda: len(quorum.applied[3]) == 2)
    assert observer.role is Role.FOLLOWER and observer.leader_id == leader.node_id
    assert observer.high_watermark == 2
    # Cut off for long, it only ever looks for the leader again; it never asks for votes.
    start = quorum.now
    quorum.settle(
        lambda: quorum.now - start > 5_000, link=lambda m: 3 not in (m.source, m.destination)
    )
    assert observer.role in (Role.FOLLOWER, Role.UNATTACHED)
    assert not any(isinstance(m, VoteRequest) for r in quorum.readies[3] for m in r.messages)
    assert observer.epoch == leader.epoch
    info = leader.describe_quorum()
    assert [o.replica_id for o in info.observers] == [3]


def test_describe_quorum_reports_offsets_and_times_from_the_clock() -> None:
    quorum = Quorum(3, observers=1)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    quorum.settle(lambda: all(len(a) == 1 for a in quorum.applied.values()))
    lagging = next(n for n in (0, 1, 2) if n != leader.node_id)
    appended_at = quorum.now
    leader.append([b"a", b"b"])
    quorum.flush(leader.node_id)
    quorum.settle(
        lambda: len(quorum.applied[3]) == 3,
        link=lambda m: lagging not in (m.source, m.destination),
    )
    info = leader.describe_quorum()
    assert (info.leader_id, info.leader_epoch, info.high_watermark) == (
        leader.node_id,
        leader.epoch,
        3,
    )
    rows = {r.replica_id: r for r in info.voters}
    assert rows[leader.node_id].log_end_offset == 3
    assert rows[lagging].log_end_offset == 1
    assert rows[lagging].last_caught_up_timestamp <= appended_at
    (observer,) = info.observers
    assert observer.replica_id == 3 and observer.log_end_offset == 3
    assert observer.last_caught_up_timestamp >= appended_at
    assert quorum.now - observer.last_fetch_timestamp <= CONFIG.fetch_max_wait_ms + 5
    with pytest.raises(NotLeaderError):
        quorum.cores[lagging].describe_quorum()


def test_an_idle_follower_fetches_once_per_hold_and_keeps_its_leader() -> None:
    """The leader holds an idle Fetch for fetch_max_wait_ms (500 ms, as Kafka's raft client),
    longer than the request timeout alone: the follower waits for the held answer instead of
    giving up on it and fetching again, so the quorum's heartbeat is one Fetch per hold per
    follower and nobody starts an election."""
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    epoch, idle_ms = leader.epoch, 10 * CONFIG.fetch_timeout_ms
    fetches: set[tuple[int, int]] = set()  # (source, correlation id): a link sees one twice

    def counted(message: object) -> bool:
        if isinstance(message, FetchRequest):
            fetches.add((message.source, message.correlation_id))
        return True

    start = quorum.now
    quorum.settle(lambda: quorum.now - start >= idle_ms, link=counted)
    assert quorum.leader() is leader and leader.epoch == epoch
    assert {c.epoch for c in quorum.cores.values()} == {epoch}
    for follower in (n for n in quorum.cores if n != leader.node_id):
        sent = sum(1 for source, _ in fetches if source == follower)
        assert (
            idle_ms // CONFIG.fetch_max_wait_ms - 1
            <= sent
            <= idle_ms // CONFIG.fetch_max_wait_ms + 1
        )


def test_a_replica_holding_the_entries_but_not_their_commit_is_answered_at_once() -> None:
    """An append answers the held Fetch with the new entries before they are committed (the
    leader has not fsynced them yet). The replica's next Fetch, at the leader's log end, is
    answered at once with the high watermark that moved meanwhile instead of being held for
    fetch_max_wait_ms: held, every observer learned each metadata record half a second late."""
    leader = RaftCore(0, frozenset({0}), now_ms=0, rng=random.Random(0))
    take(leader)
    assert leader.role is Role.LEADER
    epoch, end = leader.epoch, leader.log.end_offset
    assert fetch(leader, 3, offset=end, last_epoch=epoch).high_watermark == end
    leader.step(FetchRequest(3, 0, 8, epoch, end, epoch))
    assert not answers_to(3, take(leader))  # nothing new: held
    leader.append([b"x"])
    ready = leader.ready()
    (with_entries,) = answers_to(3, ready.messages)
    assert [e.value for e in with_entries.records] == [b"x"]
    assert with_entries.high_watermark == end  # not fsynced, so not committed yet
    leader.advance(ready)
    assert leader.high_watermark == end + 1
    leader.step(FetchRequest(3, 0, 9, epoch, end + 1, epoch))
    (told,) = answers_to(3, take(leader))
    assert told.high_watermark == end + 1 and told.records == ()
    leader.step(FetchRequest(3, 0, 10, epoch, end + 1, epoch))
    assert not answers_to(3, take(leader))  # it knows everything now: held again


def answers_to(replica: int, messages: Iterable[Message]) -> list[FetchResponse]:
    return [m for m in messages if isinstance(m, FetchResponse) and m.destination == replica]
