"""``chirpstream up``'s status line on a 3-node cluster while one broker is down: it keeps
counting (2 brokers up, the partitions it held under-replicated) instead of waiting out a
request routed to the dead leader."""

from __future__ import annotations

import re
import time

import pytest

from chirpstream.settings import TWEETS_PARTITIONS, TWEETS_TOPIC
from chirpstream.up import Status
from tests.support.confluent import produce
from tests.support.messages import keyed_messages

pytestmark = pytest.mark.cluster


def test_the_status_line_counts_on_while_a_broker_is_down(cluster_factory):
    cluster = cluster_factory(brokers=3)
    cluster.create_topic(TWEETS_TOPIC, TWEETS_PARTITIONS, 3, **{"min.insync.replicas": "2"})
    produce(cluster.bootstrap, TWEETS_TOPIC, keyed_messages(60))
    status = Status(cluster.bootstrap, {})
    try:
        assert re.search(r" 60 tweets .* 3 brokers up  0 under-replicated", status.line())
        cluster.kill(2)  # not the controller (node 0)
        deadline = time.monotonic() + 20
        lines = []
        while time.monotonic() < deadline:
            lines.append(status.line())
            if re.search(r"tweets in/s .* 2 brokers up  [1-9]\d* under-replicated", lines[-1]):
                break
            time.sleep(0.5)
        assert "2 brokers up" in lines[-1], lines
    finally:
        status.close()
