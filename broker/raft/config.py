"""The quorum's timeouts, under Kafka's config names, with the bundled classroom defaults.

The bundled defaults are shorter than Kafka's so that a new leader is elected within 2 s of
the old one's SIGKILL: a follower notices after ``fetch_timeout_ms`` (0.8 s), asks for
pre-votes, and an election takes one round trip, or one more ``election_timeout_ms`` plus a
backoff when the two followers split the vote (measured on the simulated network: median
1.24 s, worst 1.85 s over 300 seeds). An idle follower sends one Fetch per
``fetch_max_wait_ms`` (the leader holds it that long, 500 ms as in Kafka), which is the
quorum's heartbeat; a held Fetch may take that long plus ``request_timeout_ms`` before it is
given up, and one that fails (a refused or reset connection) is sent again after
``retry_backoff_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QuorumConfig:
    election_timeout_ms: int = 300
    """``controller.quorum.election.timeout.ms`` (Kafka: 1000). An election not won in this
    time (plus a random jitter of up to the same again) is abandoned."""

    fetch_timeout_ms: int = 800
    """``controller.quorum.fetch.timeout.ms`` (Kafka: 2000). A voter that has not fetched from
    its leader in this time starts an election; a leader that has not heard from a majority
    in 1.5 times this resigns (check-quorum, KAFKA-15489)."""

    election_backoff_max_ms: int = 300
    """``controller.quorum.election.backoff.max.ms`` (Kafka: 1000). The longest random wait
    before a lost election is retried."""

    request_timeout_ms: int = 400
    """``controller.quorum.request.timeout.ms`` (Kafka: 2000). A request unanswered for this
    long is given up and sent again."""

    retry_backoff_ms: int = 20
    """``controller.quorum.retry.backoff.ms`` (Kafka: 20). The wait before retrying a request
    that failed."""

    fetch_max_wait_ms: int = 500
    """How long the leader holds a Fetch that has nothing new (Kafka's raft client: 500, not
    configurable). Must be below ``fetch_timeout_ms``, so an idle follower hears from its
    leader in time."""

    fetch_max_entries: int = 64
    """The most entries one Fetch answer carries (Kafka bounds it in bytes)."""

    fetch_snapshot_max_bytes: int = 8 * 1024 * 1024
    """The most snapshot bytes one FetchSnapshot asks for (Kafka's raft client: 8 MiB, not
    configurable); a larger snapshot comes in several chunks."""

    def __post_init__(self) -> None:
        if min(self.election_timeout_ms, self.request_timeout_ms, self.retry_backoff_ms) <= 0:
            raise ValueError("the quorum timeouts must be positive")
        if not 0 < self.fetch_max_wait_ms < self.fetch_timeout_ms:
            raise ValueError("fetch_max_wait_ms must be positive and below fetch_timeout_ms")
        if self.fetch_snapshot_max_bytes <= 0:
            raise ValueError("fetch_snapshot_max_bytes must be positive")
