"""``chirpstream.rebalance.taking_changes``: the callbacks given run first, then the change is
taken by the callback itself (so confluent-kafka never asks librdkafka for the protocol, a
question that can hang inside ``close()``, librdkafka issue 4041), under both protocols.

The hang itself is a race this test does not reproduce at will (it did not in 5 tries of
closing a consumer with a rebalance queued); what it checks is that each change is taken
in the protocol's own way, which a wrong call (``assign`` under cooperative, or
``incremental_assign`` under eager) fails with an error raised from ``poll``."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from chirpstream.rebalance import is_cooperative, taking_changes


def test_the_protocol_follows_from_the_assignors_named():
    assert is_cooperative({"partition.assignment.strategy": "cooperative-sticky"})
    assert not is_cooperative({})  # librdkafka's default: range,roundrobin
    assert not is_cooperative({"partition.assignment.strategy": "range"})
    assert not is_cooperative({"partition.assignment.strategy": "roundrobin, range"})


@pytest.mark.parametrize("assignor", ["range", "cooperative-sticky"])
def test_each_change_is_taken_after_the_callback_given(broker, assignor):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("moves", 4, 1)])["moves"].result(10)
    config = {
        "bootstrap.servers": broker.bootstrap,
        "group.id": f"takes-{assignor}",
        "partition.assignment.strategy": assignor,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 200,
    }
    seen: list[tuple[str, list[int], list[int]]] = []  # (event, partitions, assignment then)

    def noted(event: str):
        def note(consumer, partitions):
            held = sorted(tp.partition for tp in consumer.assignment())
            seen.append((event, sorted(tp.partition for tp in partitions), held))

        return note

    first, second = Consumer(config), Consumer(config)
    try:
        first.subscribe(
            ["moves"],
            **taking_changes(config, on_assign=noted("assigned"), on_revoke=noted("revoked")),
        )
        poll_until(lambda: len(first.assignment()) == 4, first)
        second.subscribe(["moves"])
        poll_until(
            lambda: len(first.assignment()) == 2 and len(second.assignment()) == 2, first, second
        )
    finally:
        first.close()
        second.close()
    assert seen[0] == ("assigned", [0, 1, 2, 3], [])  # the callback ran before the change
    revoked = next(event for event in seen if event[0] == "revoked")
    if assignor == "range":  # eager: everything goes, then the new share comes
        assert revoked[1] == [0, 1, 2, 3]
    else:  # cooperative: only what moves goes, the rest is kept throughout
        assert len(revoked[1]) == 2 and revoked[2] == [0, 1, 2, 3]


def poll_until(done, *consumers: Consumer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the group did not settle"
        for consumer in consumers:
            consumer.poll(0.05)
