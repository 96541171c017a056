"""Analytics: worker processes in one consumer group, and the pure analytics they run.

``features`` (per-tweet analysis with VADER), ``runs`` (per-partition runs of one 1-second
window, the unit of publishing), ``fold`` (the reader that folds ``tweet-stats`` into exact
totals), ``worker`` (poll, analyse, publish, commit) and ``main`` (the launcher). Speaks Kafka
only through confluent-kafka: it never imports ``broker``.
"""
