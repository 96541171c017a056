import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from broker.storage import LogConfig, PartitionLog


@pytest.fixture
def topic_id() -> uuid.UUID:
    return uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")


@pytest.fixture
def new_log(tmp_path: Path, topic_id: uuid.UUID) -> Iterator[Callable[..., PartitionLog]]:
    """A factory of fresh partition logs under ``tmp_path``, closed after the test."""
    made: list[PartitionLog] = []

    def make(config: LogConfig | None = None, topic: str = "tweets", partition: int = 0):
        log = PartitionLog.create(tmp_path, topic, partition, topic_id, config or LogConfig())
        made.append(log)
        return log

    yield make
    for log in made:
        if log.directory.exists():
            log.close()
