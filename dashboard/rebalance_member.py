"""``python -m dashboard.rebalance_member``: one member of the rebalance scene
(``dashboard.rebalance_scene``): a confluent-kafka consumer of ``tweets`` in the group and with
the assignor given, whose rebalance callbacks do what librdkafka asks of the protocol (eager:
``assign``/``unassign`` the whole set; cooperative: ``incremental_assign``/
``incremental_unassign`` of the change) and print each as a JSON line: ``{"ts_ms", "member",
"kind" (assigned, revoked, lost), "partitions"}``. SIGTERM closes the consumer: it gives up
its partitions (a last revoke) and leaves the group at once.

Kept to the client library alone, so that it starts quickly.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from chirpstream.settings import TWEETS_TOPIC

ASSIGNORS = ("range", "cooperative-sticky")


def member(bootstrap: str, config: dict[str, str], group: str, assignor: str, name: str) -> int:
    cooperative = assignor == "cooperative-sticky"

    def tell(kind: str, partitions: list[TopicPartition]) -> None:
        line = {"ts_ms": time.time_ns() // 1_000_000, "member": name, "kind": kind}
        print(json.dumps({**line, "partitions": sorted(p.partition for p in partitions)}))
        sys.stdout.flush()

    def assigned(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        tell("assigned", partitions)

    def letting_go(kind: str) -> Callable[[Consumer, list[TopicPartition]], None]:
        def let_go(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            tell(kind, partitions)
            if cooperative:
                consumer.incremental_unassign(partitions)
            else:
                consumer.unassign()

        return let_go

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": f"{group}-{name}",
            "partition.assignment.strategy": assignor,
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
            **config,
        }
    )
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    revoked, lost = letting_go("revoked"), letting_go("lost")
    consumer.subscribe([TWEETS_TOPIC], on_assign=assigned, on_revoke=revoked, on_lost=lost)
    while running:
        consumer.poll(0.1)
    consumer.close()  # gives up its partitions (a last revoke) and leaves the group
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.rebalance_member")
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--config", default="{}", help="other client settings, as JSON")
    parser.add_argument("--group", required=True)
    parser.add_argument("--assignor", choices=ASSIGNORS, required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    return member(
        args.bootstrap_server, json.loads(args.config), args.group, args.assignor, args.name
    )


if __name__ == "__main__":
    sys.exit(main())
