"""Tweet ingest: simulated, replayed and live X API sources, published to Kafka.

Every source yields the X API v2 stream envelope (``chirpstream.tweets``), so one parser
serves them all; ``publisher`` produces them to the topic ``tweets`` keyed by author. Speaks
Kafka only through confluent-kafka: it never imports ``broker``.
"""
