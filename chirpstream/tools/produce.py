"""``chirpstream produce``: kafka-console-producer.sh, one message per stdin line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from chirpstream.client_config import add_client_arguments
from chirpstream.tools.common import (
    TIMEOUT_S,
    CliError,
    FatalErrors,
    add_property_argument,
    client,
    connect_admin,
    is_true,
    properties,
    reporting_errors,
    separator,
    settings,
    topic_metadata,
)


def build_parser(parser: argparse.ArgumentParser) -> None:
    add_client_arguments(parser)
    parser.add_argument("--topic", required=True, metavar="TOPIC")
    add_property_argument(parser, "parse.key=true, key.separator=SEP (default tab)")
    parser.add_argument(
        "--verbose", action="store_true", help="print 'partition P offset O' per message"
    )


class InOrderReports:
    """Delivery reports, printed as ``partition P offset O`` in input order (reports from
    different partitions can arrive out of order); the first failure is kept."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.failure: str | None = None
        self._waiting: dict[int, tuple[int, int]] = {}
        self._printed = 0

    def for_line(self, number: int) -> Callable[[KafkaError | None, Message], None]:
        def report(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self.failure = self.failure or error.str()
                return
            self._waiting[number] = (message.partition(), message.offset())
            while self._printed + 1 in self._waiting:
                self._printed += 1
                partition, offset = self._waiting.pop(self._printed)
                if self.verbose:
                    print(f"partition {partition} offset {offset}", flush=True)

        return report


@reporting_errors
def main(args: argparse.Namespace) -> int:
    props = properties(args.property)
    parse_key = is_true(props.get("parse.key"))
    key_separator = separator(props.get("key.separator", "\t"))
    _, metadata = connect_admin(args)
    topic_metadata(metadata, args.topic)
    config = settings(args)
    errors = FatalErrors()
    # acks=all and the Java client's partitioner, so a key lands where kafka-console-producer
    # would put it; the user's settings win.
    producer: Any = client(
        Producer, {"acks": "all", "partitioner": "murmur2_random", **config, "error_cb": errors}
    )
    reports = InOrderReports(args.verbose)
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        line = raw.rstrip(b"\n").rstrip(b"\r")
        key, value = None, line
        if parse_key:
            key, sep, value = line.partition(key_separator.encode())
            if not sep:
                producer.flush(TIMEOUT_S)
                text = line.decode(errors="replace")
                raise CliError(f"no key separator found on line number {number}: '{text}'")
        _send(producer, args.topic, key, value, reports.for_line(number))
        errors.raise_if_any(config["bootstrap.servers"])
        if reports.failure:
            break
    if producer.flush(TIMEOUT_S) > 0 and not reports.failure:
        reports.failure = "timed out waiting for acknowledgements"
    if reports.failure:
        raise CliError(f"failed to produce to '{args.topic}': {reports.failure}")
    return 0


def _send(producer: Any, topic: str, key: bytes | None, value: bytes, report: Callable) -> None:
    while True:
        try:
            producer.produce(topic, value, key, on_delivery=report)
            break
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(0.1)
    producer.poll(0)
