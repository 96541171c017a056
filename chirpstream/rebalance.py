"""Rebalance callbacks for confluent-kafka's ``Consumer.subscribe`` that take each change
themselves: ``assign``/``unassign`` under the eager protocol, ``incremental_assign``/
``incremental_unassign`` under the cooperative one.

A callback that leaves the change to confluent-kafka makes it ask librdkafka which protocol
the group uses (``rd_kafka_rebalance_protocol``), and that question can wait forever when
the callback runs inside ``Consumer.close()`` (librdkafka issue 4041): an analytics worker
stopped while a rebalance was on its way hung in ``close()``. The protocol follows from the
consumer's own ``partition.assignment.strategy``, so nothing needs asking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, TopicPartition

Callback = Callable[[Consumer, list[TopicPartition]], None]

LIBRDKAFKA_ASSIGNORS = "range,roundrobin"  # librdkafka's partition.assignment.strategy default


def is_cooperative(config: Mapping[str, Any]) -> bool:
    """Whether a consumer of ``config`` rebalances incrementally: librdkafka's cooperative
    protocol is its cooperative-sticky assignor's, which cannot be named with eager ones."""
    named = str(config.get("partition.assignment.strategy", LIBRDKAFKA_ASSIGNORS))
    return all(name.strip() == "cooperative-sticky" for name in named.split(","))


def taking_changes(
    config: Mapping[str, Any],
    on_assign: Callback | None = None,
    on_revoke: Callback | None = None,
    on_lost: Callback | None = None,
) -> dict[str, Callback]:
    """``subscribe``'s callbacks for a consumer of ``config``: each one given runs first (a
    revoke commits before letting go), then the change is taken. As in confluent-kafka, lost
    partitions go to ``on_revoke`` when there is no ``on_lost``."""
    cooperative = is_cooperative(config)

    def assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if on_assign is not None:
            on_assign(consumer, partitions)
        if cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)

    def letting_go(callback: Callback | None) -> Callback:
        def let_go(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            if callback is not None:
                callback(consumer, partitions)
            if cooperative:
                consumer.incremental_unassign(partitions)
            else:
                consumer.unassign()

        return let_go

    return {
        "on_assign": assign,
        "on_revoke": letting_go(on_revoke),
        "on_lost": letting_go(on_lost if on_lost is not None else on_revoke),
    }
