"""Names and defaults every service shares, so ingest, analytics and dashboard agree."""

from __future__ import annotations

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"  # the bundled broker's default address
TWEETS_TOPIC = "tweets"
TWEETS_PARTITIONS = 6
STATS_TOPIC = "tweet-stats"
DLQ_TOPIC = "tweets-dlq"
ANALYTICS_GROUP = "analytics"
