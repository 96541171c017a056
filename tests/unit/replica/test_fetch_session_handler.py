"""The fetching side of a fetch session on its own: what each fetch names, and how answers
and failures move the session id and epoch (Kafka's ``FetchSessionHandler``)."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from broker.replica.fetch_session_handler import FetchSessionHandler

OK = ErrorCode.none


def opened(session_id: int = 42) -> FetchSessionHandler[str, int]:
    handler: FetchSessionHandler[str, int] = FetchSessionHandler()
    assert handler.build({"a": 0, "b": 0}) == ({"a": 0, "b": 0}, [])
    assert handler.handle_answer(OK, session_id)
    return handler


def test_the_first_fetch_is_full_and_then_only_changes_are_named() -> None:
    handler = opened()
    assert (handler.session_id, handler.epoch) == (42, 1)
    assert handler.build({"a": 0, "b": 0}) == ({}, [])  # idle: names nothing
    assert handler.handle_answer(OK, 42)
    assert handler.epoch == 2
    # a moved, b went away (resting, or led here now), c is new
    assert handler.build({"a": 5, "c": 0}) == ({"a": 5, "c": 0}, ["b"])
    assert handler.handle_answer(OK, 42)
    assert handler.build({"a": 5, "b": 0, "c": 0}) == ({"b": 0}, [])


def test_an_unknown_session_starts_over_without_one() -> None:
    handler = opened()
    handler.build({"a": 0, "b": 0})
    assert not handler.handle_answer(ErrorCode.fetch_session_id_not_found, 0)
    assert (handler.session_id, handler.epoch) == (0, 0)
    assert handler.build({"a": 1, "b": 0}) == ({"a": 1, "b": 0}, [])  # full again


def test_another_session_error_or_a_failure_closes_the_session_by_name() -> None:
    handler = opened()
    handler.build({"a": 0, "b": 0})
    assert not handler.handle_answer(ErrorCode.invalid_fetch_session_epoch, 0)
    assert (handler.session_id, handler.epoch) == (42, 0)
    assert handler.build({"a": 0, "b": 0}) == ({"a": 0, "b": 0}, [])
    assert handler.handle_answer(OK, 43)
    handler.build({"a": 0, "b": 0})
    handler.handle_failure()
    assert (handler.session_id, handler.epoch) == (43, 0)
    assert handler.full


def test_no_session_from_the_leader_keeps_every_fetch_full() -> None:
    handler = opened(session_id=0)
    assert handler.full
    assert handler.build({"a": 0, "b": 0}) == ({"a": 0, "b": 0}, [])
    handler = opened()
    handler.build({"a": 0})
    assert handler.handle_answer(OK, 0)  # the leader closed it
    assert (handler.session_id, handler.epoch) == (0, 0)
