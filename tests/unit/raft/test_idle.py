"""An idle quorum on a manual clock: its heartbeat is one Fetch per follower per hold
(``fetch_max_wait_ms``, 500 ms as in Kafka) and nothing else, and that hold, close to the
fetch timeout, costs no election when a Fetch fails or a follower's process was stalled."""

from __future__ import annotations

from broker.raft import RaftCore, Role
from broker.raft.messages import BeginQuorumEpochRequest, FetchRequest, Message, VoteRequest
from tests.unit.raft.harness import CONFIG, Quorum


def settled() -> tuple[Quorum, RaftCore, int, int]:
    """A 3-voter quorum with a leader that both followers fetch from."""
    quorum = Quorum(3)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    start = quorum.now
    quorum.settle(lambda: quorum.now - start >= CONFIG.fetch_timeout_ms)
    first, second = (n for n in quorum.cores if n != leader.node_id)
    return quorum, leader, first, second


def run_idle(quorum: Quorum, ms: int, link=lambda m: True) -> list[Message]:
    """Deliver everything on ``link`` for ``ms``; returns what was sent meanwhile."""
    seen: list[Message] = []

    def counted(message: Message) -> bool:
        seen.append(message)
        return link(message)

    start = quorum.now
    quorum.settle(lambda: quorum.now - start >= ms, link=counted)
    return seen


def next_fetch_of(quorum: Quorum, node: int) -> FetchRequest:
    """Run the quorum until ``node`` sends its next Fetch, and take it out of the network."""
    while True:
        sent = quorum.take(lambda m: isinstance(m, FetchRequest) and m.source == node)
        if sent:
            (fetch,) = sent
            assert isinstance(fetch, FetchRequest)
            return fetch
        quorum.deliver()
        quorum.advance(5)


def test_an_idle_leader_announces_its_epoch_only_to_a_voter_that_stops_fetching() -> None:
    """BeginQuorumEpoch goes again every half fetch timeout only to the voters that did not
    fetch meanwhile: an idle quorum of fetching voters sends none."""
    quorum, leader, first, _ = settled()
    sent = run_idle(quorum, 10 * CONFIG.fetch_timeout_ms)
    assert [m for m in sent if isinstance(m, BeginQuorumEpochRequest)] == []
    assert leader.role is Role.LEADER
    # The first follower's fetches stop reaching the leader: it is told of the epoch again.
    cut = run_idle(
        quorum,
        CONFIG.fetch_timeout_ms,
        link=lambda m: not (isinstance(m, FetchRequest) and m.source == first),
    )
    announced = [m for m in cut if isinstance(m, BeginQuorumEpochRequest)]
    assert announced and {m.destination for m in announced} == {first}


def test_a_fetch_that_fails_is_sent_again_after_the_backoff_and_costs_no_election() -> None:
    """A Fetch whose connection failed is retried after retry_backoff_ms. Without that, the
    follower would wait out the held fetch's request timeout (hold + request timeout, longer
    than the fetch timeout) and ask for votes first."""
    quorum, leader, first, _ = settled()
    epoch = leader.epoch
    lost = next_fetch_of(quorum, first)
    quorum.cores[first].request_failed(lost)
    quorum.flush(first)
    sent = run_idle(quorum, 3 * CONFIG.fetch_timeout_ms)
    retried = [m for m in sent if isinstance(m, FetchRequest) and m.source == first]
    assert retried and retried[0].correlation_id != lost.correlation_id
    assert [m for m in sent if isinstance(m, VoteRequest)] == []
    assert quorum.leader() is leader and leader.epoch == epoch
    assert quorum.cores[first].role is Role.FOLLOWER


def test_a_follower_stalled_past_its_fetch_timeout_reads_its_leaders_answer_first() -> None:
    """A follower whose process did not run for longer than its fetch timeout (the answer to
    its held Fetch is waiting in its socket when it runs again) is ticked late: it gives the
    answer time to be read instead of starting an election at once."""
    quorum, leader, first, _ = settled()
    epoch = leader.epoch
    stalled = quorum.cores.pop(first)  # the harness neither ticks it nor delivers to it
    held = quorum.take(lambda m: m.destination == first)
    start = quorum.now
    while quorum.now - start < CONFIG.fetch_timeout_ms + 2 * CONFIG.fetch_max_wait_ms:
        held += quorum.take(lambda m: m.destination == first)
        quorum.deliver(lambda m: m.source != first)
        quorum.advance(5)
    held += quorum.take(lambda m: m.destination == first)
    quorum.cores[first] = stalled
    stalled.tick(quorum.now)  # its timer fires first when it runs again
    quorum.flush(first)
    assert stalled.role is Role.FOLLOWER
    for message in held:  # then the socket is read
        stalled.step(message)
        quorum.flush(first)
    sent = run_idle(quorum, 3 * CONFIG.fetch_timeout_ms)
    assert [m for m in sent if isinstance(m, VoteRequest)] == []
    assert quorum.leader() is leader and leader.epoch == epoch
    assert stalled.role is Role.FOLLOWER and stalled.leader_id == leader.node_id


def test_a_follower_whose_leader_is_gone_still_starts_an_election_in_time() -> None:
    """The stall allowance never delays noticing a dead leader when the follower runs on
    time: it asks for votes one fetch timeout after its leader's last answer."""
    quorum, leader, _, _ = settled()
    quorum.kill(leader.node_id)
    took = quorum.settle(
        lambda: any(c.role is Role.LEADER for c in quorum.cores.values()),
        link=lambda m: m.source != leader.node_id,
    )
    assert took <= CONFIG.fetch_timeout_ms + 2 * CONFIG.election_timeout_ms + 50


def test_an_idle_leader_comes_due_only_when_it_has_something_to_send() -> None:
    """A driver wakes the core at ``next_deadline``: on an idle quorum whose voters fetch,
    each time it comes due the leader answers a held Fetch; the rounds of BeginQuorumEpoch
    that would go to no voter never make it due."""
    quorum, leader, _, _ = settled()
    leader_id = leader.node_id
    idle_wakes, wakes = 0, 0
    start = quorum.now
    while quorum.now - start < 10 * CONFIG.fetch_timeout_ms:
        while quorum.mailbox:
            quorum.deliver()
        due = leader.next_deadline()
        quorum.advance(5)
        if due is not None and due <= quorum.now:
            wakes += 1
            sent = [m for m in quorum.mailbox if m.source == leader_id]
            idle_wakes += not sent
    assert wakes >= 10 * CONFIG.fetch_timeout_ms // CONFIG.fetch_max_wait_ms - 1  # every hold
    assert idle_wakes == 0
    assert leader.role is Role.LEADER


def test_a_lone_voter_leading_an_idle_quorum_has_nothing_to_wake_for() -> None:
    """A single controller has no other voter to announce its epoch to: with no observer
    fetching, nothing is due at all."""
    quorum = Quorum(1)
    quorum.settle(lambda: quorum.leader() is not None)
    leader = quorum.leader()
    assert leader is not None
    run_idle(quorum, 2 * CONFIG.fetch_timeout_ms)
    assert leader.next_deadline() is None
    assert leader.role is Role.LEADER
