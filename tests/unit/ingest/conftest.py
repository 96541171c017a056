"""Fixtures for the ingest tests: a faked X API, a fake clock, and a check that the fake
bearer token never reaches a log line, whatever the test did."""

from __future__ import annotations

import logging

import pytest
import responses

from tests.unit.ingest.x_api import TOKEN, FakeClock


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog):
    """Every test runs with DEBUG logging captured and ends by checking it for the token."""
    caplog.set_level(logging.DEBUG)
    yield
    assert TOKEN not in caplog.text
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
