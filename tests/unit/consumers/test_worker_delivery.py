"""A worker never commits past a result the broker did not acknowledge."""

from __future__ import annotations

import pytest

from consumers.worker import ResultsLost, Worker


def test_a_result_that_is_never_delivered_stops_the_worker_uncommitted():
    # Nothing listens on port 1: every delivery fails once message.timeout.ms runs out.
    worker = Worker(
        0, "127.0.0.1:1", "g", "tweets", "tweet-stats", "tweets-dlq",
        {"message.timeout.ms": "300", "socket.connection.setup.timeout.ms": "1000"},
    )  # fmt: skip
    try:
        worker.producer.produce("tweet-stats", b"{}")
        with pytest.raises(ResultsLost, match="not delivered"):
            worker._checkpoint([])
    finally:
        worker.consumer.close()
