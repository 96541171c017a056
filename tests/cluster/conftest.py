"""``cluster_factory``: a cluster of node subprocesses for one test, stopped after it; every
node's log is shown when the test fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from tests.support.cluster import Cluster

# The reliability plan's scaled-down timings: a dead broker is fenced after 2 s, a follower
# that stopped fetching leaves the ISR after 2 s.
FAST = {
    "broker.heartbeat.interval.ms": "250",
    "broker.session.timeout.ms": "2000",
    "replica.lag.time.max.ms": "2000",
}


@pytest.fixture
def cluster_factory(request, tmp_path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(
        brokers: int = 4,
        controllers: int = 1,
        config: Mapping[str, str] | None = None,
        *,
        dedicated_controllers: bool = False,
        proxied: bool = False,
    ) -> Cluster:
        cluster = Cluster(
            tmp_path / f"cluster-{len(made)}",
            brokers,
            controllers,
            {**FAST, **(config or {})},
            dedicated_controllers=dedicated_controllers,
            proxied=proxied,
        )
        made.append(cluster)
        request.node.brokers = [node for each in made for node in each.nodes]
        return cluster.start()

    yield make
    for cluster in made:
        cluster.stop()
