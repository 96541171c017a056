"""Reading ``tweet-stats`` back the way the dashboard does: fold it into exact totals."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from consumers.fold import StatsFolder


def fold_until(bootstrap: str, done: Callable[[StatsFolder], bool], timeout: float) -> StatsFolder:
    """Fold ``tweet-stats`` from the beginning until ``done(folder)`` or the timeout."""
    folder = StatsFolder()
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "fold-reader", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition("tweet-stats", 0, OFFSET_BEGINNING)])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done(folder):
            for message in consumer.consume(1000, timeout=0.5):
                if message.error() is None:
                    folder.add(message.value())
        # Whatever was published after "done" (late duplicates) must not change the totals.
        for message in consumer.consume(1000, timeout=2.0):
            if message.error() is None:
                folder.add(message.value())
    finally:
        consumer.close()
    return folder
