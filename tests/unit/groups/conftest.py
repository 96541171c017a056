from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker.replica.replica import Replica
from tests.unit.groups.support import Driver, make_partitions


@pytest.fixture
def partitions(tmp_path) -> Iterator[list[Replica]]:
    """Three partitions of ``__consumer_offsets`` on real logs, closed after the test."""
    made = make_partitions(tmp_path / "data", 3)
    yield made
    for partition in made:
        partition.log.close()


@pytest.fixture
def driver(partitions) -> Driver:
    return Driver(partitions)
