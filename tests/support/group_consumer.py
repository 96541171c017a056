"""A confluent-kafka group consumer as its own process, for group tests.

Usage: python -m tests.support.group_consumer BOOTSTRAP GROUP TOPIC ASSIGNOR [KEY=VALUE ...]

Prints one JSON object per line: ``{"event": "assigned"|"revoked", "partitions": [...]}`` on
rebalances and ``{"event": "consumed", "partition": p, "offset": o}`` per message. It commits
synchronously after each polled batch, so what it printed as consumed is committed before it
polls again. Runs until SIGTERM (closes cleanly) or SIGKILL.
"""

from __future__ import annotations

import json
import signal
import sys

from confluent_kafka import Consumer

from chirpstream.rebalance import taking_changes


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main() -> None:
    bootstrap, group, topic, assignor, *extra = sys.argv[1:]
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "partition.assignment.strategy": assignor,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 2000,
        "heartbeat.interval.ms": 300,
    }
    config.update(item.split("=", 1) for item in extra)
    consumer = Consumer(config)
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)

    def assigned(_consumer, partitions):
        emit(event="assigned", partitions=sorted(p.partition for p in partitions))

    def revoked(_consumer, partitions):
        emit(event="revoked", partitions=sorted(p.partition for p in partitions))

    consumer.subscribe([topic], **taking_changes(config, on_assign=assigned, on_revoke=revoked))
    emit(event="subscribed")
    while running:
        messages = consumer.consume(500, timeout=0.2)
        for msg in messages:
            if msg.error() is None:
                emit(event="consumed", partition=msg.partition(), offset=msg.offset())
        if messages:
            consumer.commit(asynchronous=False)
    consumer.close()


if __name__ == "__main__":
    main()
