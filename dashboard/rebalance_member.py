"""``python -m dashboard.rebalance_member``: one member of the rebalance scene
(``dashboard.rebalance_scene``): a confluent-kafka consumer of ``tweets`` in the group and with
the assignor given, whose rebalance callbacks print each change as a JSON line, ``{"ts_ms",
"member", "kind" (assigned, revoked, lost), "partitions"}``, then take it as the protocol asks
(``chirpstream.rebalance``; eager: ``assign``/``unassign`` the whole set; cooperative:
``incremental_assign``/``incremental_unassign`` of the change). SIGTERM closes the consumer:
it gives up its partitions (a last revoke) and leaves the group at once.

Its stdin is a pipe from the process that started it: the first line is the other client
settings as JSON (off the command line, where any user's ``ps`` would show a password), and
its end (EOF: the parent closed it, or died, even by SIGKILL, which closes it too) stops the
member as SIGTERM does, so no member outlives the page that started it.

Kept to the client library alone, so that it starts quickly.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from confluent_kafka import Consumer, TopicPartition

from chirpstream.rebalance import taking_changes
from chirpstream.settings import TWEETS_TOPIC

ASSIGNORS = ("range", "cooperative-sticky")


def member(
    bootstrap: str, config: dict[str, str], group: str, assignor: str, name: str, parent: TextIO
) -> int:
    """Run the member until SIGTERM, SIGINT or the end of ``parent``."""

    def tell(kind: str) -> Callable[[Consumer, list[TopicPartition]], None]:
        def told(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
            line = {"ts_ms": time.time_ns() // 1_000_000, "member": name, "kind": kind}
            print(json.dumps({**line, "partitions": sorted(p.partition for p in partitions)}))
            sys.stdout.flush()

        return told

    consumer_config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": f"{group}-{name}",
        "partition.assignment.strategy": assignor,
        "enable.auto.commit": False,
        "auto.offset.reset": "latest",
        **config,
    }
    consumer = Consumer(consumer_config)
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_parent() -> None:
        parent.read()  # returns at the pipe's end: the parent closed it, or died
        stop()

    threading.Thread(target=watch_parent, daemon=True).start()
    consumer.subscribe(
        [TWEETS_TOPIC],
        **taking_changes(
            consumer_config,
            on_assign=tell("assigned"),
            on_revoke=tell("revoked"),
            on_lost=tell("lost"),
        ),
    )
    while running:
        consumer.poll(0.1)
    consumer.close()  # gives up its partitions (a last revoke) and leaves the group
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.rebalance_member")
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--assignor", choices=ASSIGNORS, required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    config = json.loads(sys.stdin.readline() or "{}")
    return member(args.bootstrap_server, config, args.group, args.assignor, args.name, sys.stdin)


if __name__ == "__main__":
    sys.exit(main())
