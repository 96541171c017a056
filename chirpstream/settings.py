"""Names and defaults every service shares, so ingest, analytics and dashboard agree."""

from __future__ import annotations

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"  # the bundled broker's default address
TWEETS_TOPIC = "tweets"
TWEETS_PARTITIONS = 6
STATS_TOPIC = "tweet-stats"
DLQ_TOPIC = "tweets-dlq"
ANALYTICS_GROUP = "analytics"
# The session timeout `chirpstream up` gives its workers: Kafka consumers' default until 3.0
# (KIP-735 made it 45 s), so a class sees a crashed worker's partitions move within 10 s.
WORKER_SESSION_TIMEOUT_MS = 10_000
