"""A consumer group as its coordinator describes it, and its committed offsets, read by the
project's wire client (``dashboard.cluster_probe``) for tests outside ``tests/compat``:
librdkafka 2.16.0's admin group calls crash the process that makes them now and then while
brokers come and go (ListConsumerGroupOffsets segfaults on NOT_COORDINATOR, librdkafka issue
5040; DescribeConsumerGroups aborts), and that process would be pytest. ``tests/compat``
keeps showing that librdkafka's admin API works.

Each read runs in a thread of its own, as the probe runs its own event loop (a test driving
Playwright's synchronous API has one running in its thread), and waits until the
coordinator answers (it may be loading, as just after a restart)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from dashboard.cluster_probe import ClusterProbe, GroupInfo
from tests.support.waiting import eventually

T = TypeVar("T")
TIMEOUT_S = 10.0


def described_group(bootstrap: str, group: str, timeout: float = TIMEOUT_S) -> GroupInfo:
    """``group`` as its coordinator describes it now (state "DEAD": unknown to it)."""
    return _asked(bootstrap, lambda probe: probe.group(group), f"a description of {group}", timeout)


def committed_offsets(
    bootstrap: str, group: str, partitions: Sequence[tuple[str, int]], timeout: float = TIMEOUT_S
) -> dict[tuple[str, int], int]:
    """``group``'s committed offset of each of ``partitions`` (-1: none)."""
    return _asked(
        bootstrap,
        lambda probe: probe.committed(group, partitions),
        f"the commits of {group}",
        timeout,
    )


def _asked(
    bootstrap: str, question: Callable[[ClusterProbe], T | None], what: str, timeout: float
) -> T:
    def ask() -> T | None:
        probe = ClusterProbe(bootstrap, None, timeout_s=3.0)
        try:
            return question(probe)
        finally:
            probe.close()

    with ThreadPoolExecutor(1) as thread:
        return eventually(lambda: thread.submit(ask).result(), what, timeout)
