"""``chirpstream up``: the whole pipeline on one machine, in order, stopped in reverse.

Starts the bundled broker (unless ``--bootstrap-servers`` names a cluster), the topics,
ingest, the analytics workers and the dashboard; waits for each one's ``READY`` line; prints
one summary and then a compact status line. Ctrl-C or SIGTERM stops everything in reverse
order (the producer flushes, the workers commit), and nothing is left running. Each service
logs to ``<data-dir>/logs/<service>.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from chirpstream.kafka import Unreachable, ensure_topic
from chirpstream.settings import (
    ANALYTICS_GROUP,
    DLQ_TOPIC,
    STATS_TOPIC,
    TWEETS_PARTITIONS,
    TWEETS_TOPIC,
)

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
STATUS_INTERVAL_S = 2.0


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log: Path

    def ready_line(self, word: str) -> str | None:
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith(f"READY {word}"):
                return line
        return None

    def signal(self, signum: int) -> None:
        """Signal the service and everything it started (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="chirpstream up")
    parser.add_argument(
        "--bootstrap-servers", help="use this Kafka cluster instead of starting the bundled broker"
    )
    parser.add_argument("--broker-port", type=int, default=9092)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="broker log directory, dashboard store and service logs",
    )
    parser.add_argument(
        "--source", choices=["simulate", "replay", "x-stream", "x-poll"], default="simulate"
    )
    parser.add_argument("--rate", default="50", help="simulated tweets per second, or max")
    parser.add_argument("--seed", help="make the simulated stream repeatable")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--dashboard-port", type=int, default=8501)
    return parser


class Pipeline:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.logs = args.data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.services: list[Service] = []
        self.bootstrap = args.bootstrap_servers or f"127.0.0.1:{args.broker_port}"
        self.stopping = False
        self.reported: set[str] = set()

    def start(self, name: str, module: str, *module_args: str) -> Service:
        log = self.logs / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", module, *module_args], stdout=out, stderr=subprocess.STDOUT
            )
        service = Service(name, process, log)
        self.services.append(service)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (line := service.ready_line(module_ready_word(module))) is None:
            if process.poll() is not None or time.monotonic() > deadline or self.stopping:
                raise RuntimeError(f"{name} did not start; its log is {log}")
            time.sleep(0.1)
        print(f"  {name:<10} {line.removeprefix('READY ')}", flush=True)
        return service

    def up(self) -> None:
        args = self.args
        print("starting chirpstream", flush=True)
        if not args.bootstrap_servers:
            self.start(
                "broker",
                "broker",
                "--port",
                str(args.broker_port),
                "--data-dir",
                str(args.data_dir / "broker"),
            )
        for topic, partitions in (
            (TWEETS_TOPIC, TWEETS_PARTITIONS),
            (STATS_TOPIC, 1),
            (DLQ_TOPIC, 1),
        ):
            ensure_topic(self.bootstrap, topic, partitions)
        source = ["--source", args.source, "--rate", args.rate]
        if args.seed is not None:
            source += ["--seed", args.seed]
        self.start("ingest", "ingest", "--bootstrap-servers", self.bootstrap, *source)
        self.start(
            "analytics",
            "consumers",
            "--bootstrap-servers",
            self.bootstrap,
            "--workers",
            str(args.workers),
        )
        if not args.no_dashboard:
            self.start(
                "dashboard",
                "dashboard",
                "--bootstrap-servers",
                self.bootstrap,
                "--port",
                str(args.dashboard_port),
                "--store",
                str(args.data_dir / "dashboard.sqlite"),
            )
        where = "the bundled broker" if not args.bootstrap_servers else "your cluster"
        dashboard = (
            "" if args.no_dashboard else f"; dashboard http://127.0.0.1:{args.dashboard_port}"
        )
        print(
            f"chirpstream is up on {where} at {self.bootstrap}: {args.source} tweets into "
            f"'{TWEETS_TOPIC}', {args.workers} analytics workers{dashboard}. "
            f"Logs in {self.logs}. Ctrl-C stops everything.",
            flush=True,
        )

    def watch(self) -> None:
        """Print a status line every few seconds; report a service that dies, once."""
        status = Status(self.bootstrap)
        try:
            while not self.stopping:
                for service in self.services:
                    code = service.process.poll()
                    if code is not None and service.name not in self.reported:
                        self.reported.add(service.name)
                        print(
                            f"chirpstream: {service.name} exited with {code}; its log is "
                            f"{service.log}",
                            flush=True,
                        )
                print(status.line(), flush=True)
                deadline = time.monotonic() + STATUS_INTERVAL_S
                while not self.stopping and time.monotonic() < deadline:
                    time.sleep(0.1)
        finally:
            status.close()

    def down(self) -> None:
        """Stop every service, newest first; SIGKILL one that does not stop in time."""
        for service in reversed(self.services):
            service.signal(signal.SIGTERM)
            try:
                service.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"chirpstream: {service.name} did not stop; killing it", flush=True)
            service.signal(signal.SIGKILL)  # whatever of its group is still there
            service.process.wait()
        print("chirpstream stopped", flush=True)


def module_ready_word(module: str) -> str:
    """The word after READY in a service's ready line (the analytics launcher is
    ``consumers`` but says ``READY analytics``)."""
    return "analytics" if module == "consumers" else module


class Status:
    """tweets in/s, processed/s and lag, from high watermarks and the group's commits."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "chirpstream-up"})
        self._admin = AdminClient({"bootstrap.servers": bootstrap})
        self._last: tuple[float, int, int] | None = None

    def close(self) -> None:
        self._consumer.close()

    def line(self) -> str:
        try:
            high = sum(
                self._consumer.get_watermark_offsets(TopicPartition(TWEETS_TOPIC, p), timeout=2)[1]
                for p in range(TWEETS_PARTITIONS)
            )
            request = [
                ConsumerGroupTopicPartitions(
                    ANALYTICS_GROUP,
                    [TopicPartition(TWEETS_TOPIC, p) for p in range(TWEETS_PARTITIONS)],
                )
            ]
            result = self._admin.list_consumer_group_offsets(request)[ANALYTICS_GROUP].result(2)
            committed = sum(max(tp.offset, 0) for tp in result.topic_partitions)
        except KafkaException as exc:
            return f"status: cluster not answering ({exc.args[0].str()})"
        now = time.monotonic()
        rates = ""
        if self._last is not None:
            then, last_high, last_committed = self._last
            rates = (
                f"{(high - last_high) / (now - then):7.0f} tweets in/s  "
                f"{(committed - last_committed) / (now - then):7.0f} processed/s  "
            )
        self._last = (now, high, committed)
        return f"status: {rates}{high:,} tweets  lag {high - committed:,}"


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    args = args or build_parser().parse_args(argv)
    pipeline = Pipeline(args)

    def stop(*_: object) -> None:
        pipeline.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        pipeline.up()
        pipeline.watch()
    except (RuntimeError, Unreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        pipeline.down()
    return 0
