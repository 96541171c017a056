"""Tweet ingest: simulated, replayed and live X API sources published to Kafka.

Not built yet: issue #4 delivers it. It will never import ``broker``.
"""
