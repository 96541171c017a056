"""Elections rule by rule on a manual clock: vote granting, pre-vote (KIP-996), persistence of
the vote before the answer, and the persisted state honoured after a restart."""

from __future__ import annotations

import random

from kio.schema.errors import ErrorCode

from broker.raft import ElectionState, Entry, RaftCore, Role, leader_change
from broker.raft.messages import VoteRequest, VoteResponse
from tests.unit.raft.harness import CONFIG, Quorum, between, to


def vote_request(
    candidate: int, voter: int, epoch: int, last_epoch: int, last_offset: int, pre_vote=False
) -> VoteRequest:
    return VoteRequest(candidate, voter, 1, epoch, last_epoch, last_offset, pre_vote)


def voter_with_log(entries: list[Entry], epoch: int, voted_for: int = -1) -> RaftCore:
    return RaftCore(
        1,
        frozenset({0, 1, 2}),
        now_ms=0,
        rng=random.Random(1),
        election_state=ElectionState(epoch=epoch, voted_for=voted_for),
        log=entries,
    )


def answer_of(core: RaftCore, request: VoteRequest) -> tuple[VoteResponse, ElectionState | None]:
    core.step(request)
    ready = core.ready()
    core.advance(ready)
    (response,) = [m for m in ready.messages if isinstance(m, VoteResponse)]
    return response, ready.election_state


LOG = [Entry(1, b"a"), Entry(1, b"b"), Entry(2, b"c")]


def test_a_vote_is_granted_to_an_up_to_date_log_and_persisted_with_the_answer() -> None:
    voter = voter_with_log(LOG, epoch=2)
    response, persisted = answer_of(voter, vote_request(0, 1, epoch=3, last_epoch=2, last_offset=3))
    assert response.vote_granted and response.leader_epoch == 3
    # The same Ready carries the vote to fsync, and its messages go out only after it.
    assert persisted == ElectionState(epoch=3, leader_id=-1, voted_for=0)


def test_a_vote_is_refused_to_a_shorter_log_or_an_older_last_epoch() -> None:
    shorter = vote_request(0, 1, epoch=3, last_epoch=2, last_offset=2)
    assert not answer_of(voter_with_log(LOG, epoch=2), shorter)[0].vote_granted
    older_but_longer = vote_request(0, 1, epoch=3, last_epoch=1, last_offset=10)
    assert not answer_of(voter_with_log(LOG, epoch=2), older_but_longer)[0].vote_granted
    later_epoch_shorter_log = vote_request(0, 1, epoch=3, last_epoch=3, last_offset=1)
    assert answer_of(voter_with_log(LOG, epoch=2), later_epoch_shorter_log)[0].vote_granted


def test_one_vote_per_epoch_and_a_stale_epoch_is_fenced() -> None:
    voter = voter_with_log(LOG, epoch=2)
    assert answer_of(voter, vote_request(0, 1, 3, 2, 3))[0].vote_granted
    assert not answer_of(voter, vote_request(2, 1, 3, 2, 3))[0].vote_granted
    assert answer_of(voter, vote_request(0, 1, 3, 2, 3))[0].vote_granted  # the same again
    stale, _ = answer_of(voter, vote_request(2, 1, epoch=2, last_epoch=2, last_offset=3))
    assert stale.error is ErrorCode.fenced_leader_epoch and not stale.vote_granted


def test_a_pre_vote_changes_no_epoch_and_casts_no_vote() -> None:
    voter = voter_with_log(LOG, epoch=2)
    pre_vote = vote_request(0, 1, epoch=3, last_epoch=2, last_offset=3, pre_vote=True)
    response, persisted = answer_of(voter, pre_vote)
    assert response.vote_granted and response.pre_vote
    assert persisted is None
    assert (voter.epoch, voter.voted_for) == (2, -1)


def test_the_vote_survives_a_restart() -> None:
    voter = voter_with_log(LOG, epoch=2)
    _, persisted = answer_of(voter, vote_request(0, 1, epoch=3, last_epoch=2, last_offset=3))
    assert persisted is not None
    restarted = RaftCore(
        1, frozenset({0, 1, 2}), now_ms=0, rng=random.Random(2), election_state=persisted, log=LOG
    )
    assert not answer_of(restarted, vote_request(2, 1, 3, 2, 3))[0].vote_granted
    assert answer_of(restarted, vote_request(0, 1, 3, 2, 3))[0].vote_granted


def test_first_election_uses_pre_vote_then_vote_and_announces_the_leader() -> None:
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None and leader.epoch == 1
    quorum.settle(lambda: all(c.leader_id == leader.node_id for c in quorum.cores.values()))
    # The leader's first entry is its LeaderChange record, committed once a majority has it:
    # Kafka's LeaderChangeMessage, naming the leader, the voters and those that granted.
    quorum.settle(lambda: all(len(a) == 1 for a in quorum.applied.values()))
    first = quorum.applied[0][0]
    assert first.leader_change and first.epoch == 1
    assert all(a[0] == first for a in quorum.applied.values())
    change = leader_change.decode(first.value)
    assert (change.leader_id, change.voters) == (leader.node_id, (0, 1, 2))
    assert leader.node_id in change.granting_voters and len(change.granting_voters) >= 2


def test_a_follower_that_hears_its_leader_refuses_pre_votes() -> None:
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    quorum.settle(lambda: all(len(a) == 1 for a in quorum.applied.values()))
    leader = quorum.leader()
    assert leader is not None
    follower, other = [c for c in quorum.cores.values() if c is not leader]
    assert follower.role is Role.FOLLOWER
    longer_log = vote_request(other.node_id, follower.node_id, follower.epoch + 1, 5, 100, True)
    response, _ = answer_of(follower, longer_log)
    assert not response.vote_granted
    # Once its leader has been silent for the fetch timeout, it asks for pre-votes itself
    # and grants them, still without changing its epoch.
    quorum.drop()
    follower.tick(quorum.now + CONFIG.fetch_timeout_ms)
    assert follower.role is Role.PROSPECTIVE and follower.epoch == leader.epoch
    assert answer_of(follower, longer_log)[0].vote_granted


def test_a_node_cut_off_and_back_does_not_force_an_election() -> None:
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    epoch = leader.epoch
    quorum.settle(lambda: all(len(a) == 1 for a in quorum.applied.values()))
    cut_off = next(n for n in quorum.cores if n != leader.node_id)
    others = [n for n in quorum.cores if n != cut_off]
    # Ten seconds alone: its pre-votes go nowhere, and its epoch stays put.
    start = quorum.now
    quorum.settle(lambda: quorum.now - start >= 10_000, within_ms=11_000, link=between(*others))
    assert quorum.cores[cut_off].role is not Role.LEADER
    assert quorum.cores[cut_off].epoch == epoch
    # Back on the network: it follows the same leader in the same epoch.
    quorum.settle(lambda: quorum.cores[cut_off].role is Role.FOLLOWER)
    start = quorum.now
    quorum.settle(lambda: quorum.now - start >= 3 * CONFIG.fetch_timeout_ms)
    assert quorum.cores[cut_off].role is Role.FOLLOWER
    assert leader.role is Role.LEADER and leader.epoch == epoch


def test_a_restarted_leader_does_not_lead_its_old_epoch_again() -> None:
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    restarted = quorum.start(leader.node_id)
    assert restarted.role is Role.UNATTACHED
    assert (restarted.epoch, restarted.voted_for) == (leader.epoch, leader.node_id)
    quorum.deliver(to(leader.node_id))
    assert restarted.role is not Role.LEADER


def test_a_new_leader_within_two_seconds_of_a_sigkill_with_the_bundled_timeouts() -> None:
    took = []
    for seed in range(20):
        quorum = Quorum(3, seed=seed)
        quorum.settle(lambda q=quorum: q.leader() is not None)
        old = quorum.leader()
        assert old is not None
        quorum.settle(lambda q=quorum: all(len(a) == 1 for a in q.applied.values()))
        quorum.kill(old.node_id)
        took.append(quorum.settle(lambda q=quorum: q.leader() is not None))
        new = quorum.leader()
        assert new is not None and new.epoch > old.epoch
    assert max(took) < 2_000, sorted(took)
