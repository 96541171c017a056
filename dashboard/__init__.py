"""The Streamlit dashboard (``app.py``, pages in ``views/``) and its collector, which samples
the cluster into a SQLite store the pages read. It speaks Kafka only: through confluent-kafka,
and through the project's wire client (``broker.net.client``, the one module of ``broker`` it
uses) for what confluent-kafka does not expose (``cluster_probe``).
"""
