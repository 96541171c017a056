"""chirpstream's command line and what its services share.

``chirpstream <verb>`` dispatches to each service's entry point (``cli``, ``tools/``); ``up``
and ``cluster`` start and watch the processes. Shared by ingest, consumers and dashboard: the
settings, client configuration and logging, the tweet schema (``tweets``), topic creation
(``kafka``) and consumer rebalance callbacks (``rebalance``).
"""
