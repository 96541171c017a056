"""Fixtures shared by every test folder: a broker subprocess on a free loopback port, fresh for
each test (``broker``, ``broker_factory``) or one for a whole module (``shared_broker``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.broker_process import LIGHT, BrokerProcess, stop_together


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for broker in getattr(item, "brokers", ()):
            report.sections.append((f"broker log {broker.log_path}", broker.read_log()[-20000:]))
    return report


@pytest.fixture
def broker_factory(request, tmp_path) -> Iterator:
    """Start brokers with ``broker_factory(config={...})`` (over ``LIGHT``); all are stopped
    after the test."""
    started: list[BrokerProcess] = []
    request.node.brokers = started

    def start(config: dict[str, str] | None = None, name: str = "broker") -> BrokerProcess:
        broker = BrokerProcess(
            tmp_path / f"{name}-data", tmp_path / f"{name}.log", config={**LIGHT, **(config or {})}
        )
        started.append(broker)
        return broker.start()

    yield start
    stop_together(started)


@pytest.fixture
def broker(broker_factory) -> BrokerProcess:
    return broker_factory()


@pytest.fixture(scope="module")
def _module_broker(tmp_path_factory) -> Iterator[BrokerProcess]:
    folder = tmp_path_factory.mktemp("shared-broker")
    broker = BrokerProcess(folder / "data", folder / "broker.log", config=LIGHT).start()
    yield broker
    broker.stop()


@pytest.fixture
def shared_broker(request, _module_broker) -> BrokerProcess:
    """One broker (``LIGHT``) for every test of a module that asks for it, started once (0.5 s
    to start and stop a broker): for tests that need a broker, not a fresh one. Each such test
    uses topic and group names no other test of its module uses."""
    request.node.brokers = [_module_broker]
    return _module_broker
