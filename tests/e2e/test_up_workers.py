"""The worker controls on a running ``chirpstream up``: a worker added joins the analytics
group as ``up``'s child, a worker removed leaves it cleanly, and the group's member count (as
DescribeGroups reports it to a real client) follows; a clean stop removes the record."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from chirpstream import workers
from chirpstream.settings import ANALYTICS_GROUP
from tests.e2e.test_up import Up, descendants
from tests.support.group_reads import described_group


def wait_members(bootstrap: str, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        group = described_group(bootstrap, ANALYTICS_GROUP)
        seen = (group.state, len(group.members))
        if len(group.members) == count and group.state == "STABLE":
            return
        time.sleep(0.3)
    raise AssertionError(f"the group never had {count} stable members; last seen {seen}")


def wait_until(done: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)
    return done()


def test_a_worker_added_and_removed_changes_the_group(tmp_path):
    up = Up(tmp_path, "--no-dashboard", "--rate", "50", "--broker-port", "0", "--brokers", "1",
            "--workers", "1")  # fmt: skip
    try:
        _, bootstrap = up.wait_until_up()
        wait_members(bootstrap, 1)
        [first] = workers.workers(tmp_path)
        assert first.index == 0 and first.pid in descendants(up.proc.pid)

        workers.add_worker(tmp_path)
        assert wait_until(lambda: len(workers.workers(tmp_path)) == 2)
        added = workers.workers(tmp_path)[1]
        assert added.index == 1 and added.pid in descendants(up.proc.pid)  # up's own child
        wait_members(bootstrap, 2)

        assert workers.remove_worker(tmp_path) == 1
        wait_members(bootstrap, 1)
        up.wait_for(r"^chirpstream: worker 1 left the group")
        assert [w.index for w in workers.workers(tmp_path)] == [0]
        assert up.stop(signal.SIGINT) == 0
    finally:
        up.kill()
    assert "Traceback" not in up.output()
    assert not workers.record_path(tmp_path).exists()
