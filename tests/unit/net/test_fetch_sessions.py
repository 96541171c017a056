"""The fetch session state machine (KIP-227) on its own: contexts, answers, errors, eviction."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from broker.net.fetch_sessions import (
    EVICTION_MS,
    FINAL_EPOCH,
    INITIAL_EPOCH,
    NO_SESSION,
    Answered,
    FetchSessionCache,
    next_epoch,
)

A0, A1, B0 = ("a", 0), ("a", 1), ("b", 0)


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def cache(slots: int = 10) -> tuple[FetchSessionCache[int], Clock]:
    clock = Clock()
    ids = itertools.count(101)
    return FetchSessionCache(slots, clock, new_id=lambda: next(ids)), clock


def idle(*keys, hw: int = 5) -> list:
    return [(key, Answered(0, hw, 0, 0)) for key in keys]


def open_session(sessions, keys=(A0, A1, B0), *, privileged=True, hw=5) -> int:
    fetch = sessions.context(
        NO_SESSION,
        INITIAL_EPOCH,
        [(key, 0) for key in keys],
        [],
        uses_topic_ids=False,
        privileged=privileged,
    )
    session_id, carried = fetch.answer(idle(*keys, hw=hw))
    assert carried == list(keys)  # a full answer carries everything
    return session_id


def incremental(sessions, session_id, epoch, wanted=(), forgotten=(), *, by_id=False):
    return sessions.context(
        session_id, epoch, list(wanted), list(forgotten), uses_topic_ids=by_id, privileged=True
    )


def test_a_full_fetch_of_epoch_0_opens_a_session_whose_next_epoch_is_1() -> None:
    sessions, _ = cache()
    session_id = open_session(sessions)
    assert session_id != NO_SESSION
    assert sessions.created == 1
    fetch = incremental(sessions, session_id, 1)
    assert fetch.error == ErrorCode.none
    assert [key for key, _ in fetch.partitions] == [A0, A1, B0]  # the session remembers them
    assert incremental(sessions, session_id, 2).error == ErrorCode.none


def test_a_sessionless_fetch_reads_and_answers_everything_without_a_session() -> None:
    sessions, _ = cache()
    fetch = sessions.context(
        NO_SESSION, FINAL_EPOCH, [(A0, 0)], [], uses_topic_ids=False, privileged=False
    )
    assert fetch.answer(idle(A0)) == (NO_SESSION, [A0])
    assert sessions.sessions == {}


def test_an_idle_incremental_answer_carries_nothing() -> None:
    sessions, _ = cache()
    session_id = open_session(sessions)
    fetch = incremental(sessions, session_id, 1)
    assert fetch.answer(idle(A0, A1, B0)) == (session_id, [])


def test_an_incremental_answer_carries_what_changed_and_remembers_it() -> None:
    sessions, _ = cache()
    session_id = open_session(sessions)
    said = [
        (A0, Answered(0, 5, 0, 100)),  # records
        (A1, Answered(0, 6, 0, 0)),  # a new high watermark
        (B0, Answered(0, 5, 2, 0)),  # a new log start offset
    ]
    assert incremental(sessions, session_id, 1).answer(said) == (session_id, [A0, A1, B0])
    fetch = incremental(sessions, session_id, 2)
    # A0 got records: it goes to the back, so the others are read first next time
    assert [key for key, _ in fetch.partitions] == [A1, B0, A0]
    idle_again = [
        (A0, Answered(0, 5, 0, 0)),
        (A1, Answered(0, 6, 0, 0)),
        (B0, Answered(0, 5, 2, 0)),
    ]
    assert fetch.answer(idle_again) == (session_id, [])


def test_an_error_is_always_carried_and_its_end_is_told_too() -> None:
    sessions, _ = cache()
    session_id = open_session(sessions)
    failed = [(A0, Answered(ErrorCode.not_leader_or_follower, 5, 0, 0))]
    assert incremental(sessions, session_id, 1).answer(failed) == (session_id, [A0])
    assert incremental(sessions, session_id, 2).answer(failed) == (session_id, [A0])
    # the error is gone, the high watermark is the one sent before it: still told
    assert incremental(sessions, session_id, 3).answer(idle(A0)) == (session_id, [A0])
    assert incremental(sessions, session_id, 4).answer(idle(A0)) == (session_id, [])


def test_a_diverging_epoch_or_preferred_replica_is_always_carried() -> None:
    sessions, _ = cache()
    session_id = open_session(sessions)
    special = [(B0, Answered(0, 5, 0, 0, special=True))]
    assert incremental(sessions, session_id, 1).answer(special) == (session_id, [B0])


def test_an_incremental_fetch_updates_adds_and_forgets_partitions() -> None:
    sessions, _ = cache()
    session_id = open_session(sessions, (A0, A1))
    fetch = incremental(sessions, session_id, 1, [(A1, 7), (B0, 3)], [A0])
    assert fetch.partitions == [(A1, 7), (B0, 3)]
    # B0 is new to the session: its first answer is carried whatever it says
    assert fetch.answer(idle(A1, B0)) == (session_id, [B0])


def test_forgetting_every_partition_closes_the_session() -> None:
    sessions, _ = cache()
    session_id = open_session(sessions, (A0,))
    fetch = incremental(sessions, session_id, 1, forgotten=[A0])
    assert fetch.partitions == []
    assert fetch.answer([]) == (NO_SESSION, [])
    assert incremental(sessions, session_id, 2).error == ErrorCode.fetch_session_id_not_found


def test_session_errors_are_kafkas() -> None:
    sessions, _ = cache()
    session_id = open_session(sessions)
    assert incremental(sessions, 999, 1).error == ErrorCode.fetch_session_id_not_found
    assert incremental(sessions, session_id, 2).error == ErrorCode.invalid_fetch_session_epoch
    topic_ids = incremental(sessions, session_id, 1, by_id=True)
    assert topic_ids.error == ErrorCode.fetch_session_topic_id_error
    # the session is untouched by the refused fetches
    assert incremental(sessions, session_id, 1).error == ErrorCode.none


def test_a_full_fetch_closes_the_session_it_names() -> None:
    sessions, _ = cache()
    first = open_session(sessions)
    sessions.context(first, INITIAL_EPOCH, [(A0, 0)], [], uses_topic_ids=False, privileged=True)
    assert first not in sessions.sessions
    sessions.context(NO_SESSION, FINAL_EPOCH, [], [], uses_topic_ids=False, privileged=True)
    second = open_session(sessions)
    sessions.context(second, FINAL_EPOCH, [(A0, 0)], [], uses_topic_ids=False, privileged=True)
    assert sessions.sessions == {}


def test_no_slots_means_no_sessions() -> None:
    sessions, _ = cache(slots=0)
    assert open_session(sessions) == NO_SESSION
    assert sessions.sessions == {}


def test_a_full_cache_evicts_a_stale_session_first() -> None:
    sessions, clock = cache(slots=2)
    stale = open_session(sessions, (A0, A1, B0))
    clock.ms += 1
    fresh = open_session(sessions, (A0, A1, B0))
    clock.ms += EVICTION_MS
    incremental(sessions, fresh, 1)  # used: not stale
    clock.ms += 1
    newest = open_session(sessions, (A0,), privileged=False)  # small, yet takes a stale slot
    assert set(sessions.sessions) == {fresh, newest}
    assert stale not in sessions.sessions


def test_a_consumer_evicts_only_a_smaller_consumer_a_follower_any_smaller_session() -> None:
    sessions, clock = cache(slots=2)
    follower = open_session(sessions, (A0,), privileged=True)
    consumer = open_session(sessions, (A0,), privileged=False)
    clock.ms += 1
    big_consumer = open_session(sessions, (A0, A1, B0), privileged=False)
    assert set(sessions.sessions) == {follower, big_consumer}
    clock.ms += 1
    # neither the follower's session nor a bigger consumer's gives way to a small consumer
    assert open_session(sessions, (A0,), privileged=False) == NO_SESSION
    # a follower's evicts a consumer's first, whatever its size
    second_follower = open_session(sessions, (A0,), privileged=True)
    assert set(sessions.sessions) == {follower, second_follower}
    clock.ms += 1
    # then the smallest follower's session (of two that size, the least recently used)
    third = open_session(sessions, (A0, A1), privileged=True)
    assert set(sessions.sessions) == {second_follower, third}
    assert consumer not in sessions.sessions
    assert sessions.evicted == 3


def test_the_epoch_wraps_to_1() -> None:
    assert next_epoch(1) == 2
    assert next_epoch(2**31 - 1) == 1


keys = st.tuples(st.sampled_from("abc"), st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(keys, st.integers(0, 9), max_size=4),  # partitions asked (offset)
            st.lists(keys, max_size=2),  # forgotten
            st.dictionaries(keys, st.tuples(st.integers(0, 3), st.integers(0, 1)), max_size=12),
        ),
        max_size=12,
    )
)
def test_a_client_that_applies_every_answer_sees_what_a_sessionless_one_sees(steps) -> None:
    """A client mirroring the session (what it asks, what it was last told) learns the same
    high watermarks and records as if every fetch were full, and reads the same partitions."""
    sessions, _ = cache()
    asked: dict = {}
    told: dict = {}
    session_id, epoch = NO_SESSION, INITIAL_EPOCH
    for changed, forgotten, state in steps:
        before = dict(asked)
        asked.update(changed)
        for key in forgotten:
            asked.pop(key, None)
        if epoch == INITIAL_EPOCH:
            wanted, gone = list(asked.items()), []
        else:
            wanted = [(k, v) for k, v in asked.items() if before.get(k) != v]
            gone = [k for k in before if k not in asked]
        fetch = sessions.context(
            session_id, epoch, wanted, gone, uses_topic_ids=False, privileged=True
        )
        assert fetch.error == ErrorCode.none
        assert dict(fetch.partitions) == asked
        said = {key: state.get(key, (0, 0)) for key in asked}
        answered = [(key, Answered(0, hw, 0, size)) for key, (hw, size) in said.items()]
        session_id, carried = fetch.answer(answered)
        for key in carried:
            told[key] = said[key][0]
        for key, (hw, size) in said.items():
            assert told.get(key) == hw, "a high watermark the client was never told"
            assert size == 0 or key in carried, "records left out of the answer"
        epoch = INITIAL_EPOCH if session_id == NO_SESSION else next_epoch(epoch)
        told = {k: v for k, v in told.items() if k in asked}
