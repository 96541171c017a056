"""``python -m ingest`` / ``chirpstream ingest``: tweets from a source into the topic."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from chirpstream.arguments import positive_int, rate_or_max
from chirpstream.client_config import ConfigError, add_client_arguments, service_config
from chirpstream.kafka import Unreachable, ensure_topic
from chirpstream.logs import LEVELS, setup_logging
from chirpstream.settings import TWEETS_PARTITIONS, TWEETS_TOPIC
from ingest.publisher import Publisher
from ingest.record import recorded
from ingest.replay import ReplaySource
from ingest.simulate import SEEDED_START_MS, SimulatedSource
from ingest.source import TweetSource
from ingest.x_common import MissingCredential, XApiError
from ingest.x_poll import XPollSource
from ingest.x_stream import XStreamSource

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_tweets.jsonl"


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="python -m ingest", description="Publish tweets to Kafka."
    )
    parser.add_argument(
        "--source",
        choices=["simulate", "replay", "x-stream", "x-poll"],
        default="simulate",
        help="simulate (default, offline), replay a JSONL file, or the live "
        "X API (needs X_BEARER_TOKEN; paid per read)",
    )
    add_client_arguments(parser)
    parser.add_argument("--topic", default=TWEETS_TOPIC)
    parser.add_argument(
        "--partitions",
        type=positive_int,
        default=TWEETS_PARTITIONS,
        help="partitions when the topic has to be created (default 6)",
    )
    parser.add_argument(
        "--key",
        choices=["author", "hashtag", "none"],
        default="author",
        help="message key: author (per-author order), hashtag, or none",
    )
    parser.add_argument("--limit", type=positive_int, help="stop after this many tweets")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="also write every tweet to FILE in the replay format",
    )
    simulate = parser.add_argument_group("simulate")
    simulate.add_argument(
        "--rate",
        type=rate_or_max,
        default=50.0,
        help="tweets per second on average, or max (default 50)",
    )
    simulate.add_argument(
        "--seed",
        type=int,
        default=None,
        help="make the run exactly repeatable: the same tweets, ids and timestamps",
    )
    replay = parser.add_argument_group("replay")
    replay.add_argument(
        "--file",
        type=Path,
        default=SAMPLE,
        help="JSONL of stream lines (default: the shipped sample)",
    )
    replay.add_argument(
        "--speed",
        type=rate_or_max,
        default=1.0,
        help="1 = recorded speed, 10 = ten times faster, max",
    )
    replay.add_argument("--loop", action="store_true", help="start again at the end")
    live = parser.add_argument_group("x-stream and x-poll (X API, paid per read)")
    live.add_argument(
        "--rule",
        action="append",
        default=[],
        help='a filtered-stream rule, e.g. "#python lang:en" (repeatable)',
    )
    live.add_argument(
        "--query", default="#python -is:retweet", help="the recent-search query for x-poll"
    )
    live.add_argument("--interval", type=float, default=15.0, help="x-poll seconds between polls")
    live.add_argument(
        "--max-reads",
        type=positive_int,
        default=100,
        help="stop after reading this many posts (default 100)",
    )
    parser.add_argument("--log-level", default="WARNING", choices=LEVELS)
    return parser


def make_source(args: argparse.Namespace) -> TweetSource:
    if args.source == "replay":
        return ReplaySource(args.file, speed=args.speed, loop=args.loop)
    if args.source == "x-stream":
        if not args.rule:
            raise ValueError('x-stream needs at least one --rule, e.g. --rule "#python"')
        return XStreamSource(args.rule, max_reads=args.max_reads)
    if args.source == "x-poll":
        return XPollSource(args.query, max_reads=args.max_reads, interval_s=args.interval)
    if args.seed is None:  # a new stream every run, starting now
        return SimulatedSource(seed=time.time_ns() % (1 << 31), rate=args.rate)
    return SimulatedSource(seed=args.seed, rate=args.rate, start_ms=SEEDED_START_MS)


class Progress(threading.Thread):
    """Prints one line a second: tweets/s, totals and delivery errors."""

    def __init__(self, publisher: Publisher) -> None:
        super().__init__(daemon=True)
        self._publisher = publisher
        self._stop = threading.Event()

    def run(self) -> None:
        last_sent, last_time = 0, time.monotonic()
        while not self._stop.wait(1.0):
            self._publisher.poll(0)
            now = time.monotonic()
            publisher = self._publisher
            rate = (publisher.sent - last_sent) / (now - last_time)
            last_sent, last_time = publisher.sent, now
            print(
                f"ingest: {rate:8.1f} tweets/s  sent {publisher.sent}  delivered "
                f"{publisher.delivered}  errors {publisher.errors}",
                flush=True,
            )

    def stop(self) -> None:
        self._stop.set()


def run(args: argparse.Namespace) -> int:
    bootstrap, client_config = service_config(args)
    source = make_source(args)
    if args.record:
        source = recorded(source, args.record)
    ensure_topic(bootstrap, args.topic, args.partitions, client_config)
    publisher = Publisher(bootstrap, args.topic, args.key, client_config)

    def stop(*_: object) -> None:
        source.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"READY ingest source={source.name} topic={args.topic} "
        f"bootstrap={bootstrap} key={args.key}",
        flush=True,
    )
    progress = Progress(publisher)
    progress.start()
    try:
        for envelope in source.envelopes():
            publisher.publish(envelope)
            if args.limit and publisher.sent >= args.limit:
                break
    finally:
        progress.stop()
        undelivered = publisher.flush(30)
        print(
            f"ingest: done, sent {publisher.sent}, delivered {publisher.delivered}, "
            f"errors {publisher.errors + undelivered}",
            flush=True,
        )
        summary = getattr(source, "summary", None)
        if summary is not None:
            print(f"ingest: {summary()}", flush=True)
    if publisher.errors or undelivered:
        print(
            f"error: {publisher.errors + undelivered} tweets were not delivered "
            f"({publisher.last_error or 'timed out'})",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    args = args or build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return run(args)
    except (
        Unreachable,
        ConfigError,
        MissingCredential,
        XApiError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
