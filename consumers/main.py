"""``python -m consumers`` / ``chirpstream analytics``: N worker processes in one group.

Each worker is its own process (``python -m consumers.worker``), so the group is exactly what
it would be across machines. The launcher creates the topics, starts the workers, forwards
SIGTERM/Ctrl-C so each one publishes, commits and leaves cleanly, and reports a worker that
dies with one line.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from chirpstream.arguments import positive_int
from chirpstream.client_config import (
    ConfigError,
    add_client_arguments,
    forwarded,
    service_config,
)
from chirpstream.kafka import Unreachable, ensure_topic
from chirpstream.logs import LEVELS
from chirpstream.settings import (
    ANALYTICS_GROUP,
    TWEETS_PARTITIONS,
    TWEETS_TOPIC,
)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="python -m consumers", description="Run the analytics workers."
    )
    parser.add_argument("--workers", type=positive_int, default=3)
    add_client_arguments(parser)
    parser.add_argument("--group", default=ANALYTICS_GROUP)
    parser.add_argument("--topic", default=TWEETS_TOPIC)
    parser.add_argument("--log-level", default="WARNING", choices=LEVELS)
    return parser


def worker_command(args: argparse.Namespace, worker_id: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "consumers.worker",
        "--id",
        str(worker_id),
        *forwarded(args),
        "--group",
        args.group,
        "--topic",
        args.topic,
        "--log-level",
        args.log_level,
    ]
    return command


def run(args: argparse.Namespace) -> int:
    bootstrap, config = service_config(args)
    ensure_topic(bootstrap, args.topic, TWEETS_PARTITIONS, config)
    workers = [subprocess.Popen(worker_command(args, i)) for i in range(args.workers)]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"READY analytics workers={args.workers} group={args.group} topic={args.topic}", flush=True
    )
    reported: set[int] = set()
    while any(worker.poll() is None for worker in workers):
        for number, worker in enumerate(workers):
            code = worker.poll()
            if code not in (None, 0) and number not in reported and not stopping:
                print(
                    f"analytics: worker {number} exited with {code}; the others take over "
                    "its partitions after its session times out",
                    flush=True,
                )
                reported.add(number)
        time.sleep(0.2)
    return 0 if stopping or not reported else 1


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    args = args or build_parser().parse_args(argv)
    try:
        return run(args)
    except (Unreachable, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
