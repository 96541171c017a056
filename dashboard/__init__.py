"""The Streamlit dashboard (``app.py``, pages in ``views/``) and its collector, which samples
the cluster into a SQLite store the pages read. It never imports ``broker``: it speaks Kafka.
"""
