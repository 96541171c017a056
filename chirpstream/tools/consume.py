"""``chirpstream consume``: kafka-console-consumer.sh, messages printed one per line."""

from __future__ import annotations

import argparse
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, Message
from confluent_kafka import TopicPartition as TP

from chirpstream.client_config import add_client_arguments
from chirpstream.rebalance import taking_changes
from chirpstream.tools.common import (
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

JOIN_ALLOWANCE_S = 30.0  # --timeout-ms counts from the assignment; joining may take this long


def build_parser(parser: argparse.ArgumentParser) -> None:
    add_client_arguments(parser)
    parser.add_argument("--topic", required=True, metavar="TOPIC")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the earliest offset when there is no committed one",
    )
    parser.add_argument("--group", metavar="GROUP", help="consumer group (commits its offsets)")
    parser.add_argument("--partition", type=int, metavar="P", help="read only this partition")
    parser.add_argument(
        "--offset", metavar="O", help="with --partition: earliest, latest (default) or a number"
    )
    parser.add_argument("--max-messages", type=int, metavar="N", help="stop after N messages")
    parser.add_argument(
        "--timeout-ms", type=int, metavar="MS", help="stop when no message arrives for MS ms"
    )
    add_property_argument(
        parser,
        "print.key, print.partition, print.offset, print.timestamp, print.value, "
        "key.separator, line.separator, null.literal",
    )


@dataclass(frozen=True)
class Formatter:
    """kafka-console-consumer's DefaultMessageFormatter: the chosen fields joined by
    key.separator, each message ended by line.separator."""

    timestamp: bool
    partition: bool
    offset: bool
    key: bool
    value: bool
    separator: bytes
    line_separator: bytes
    null: bytes

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> Formatter:
        return cls(
            timestamp=is_true(props.get("print.timestamp")),
            partition=is_true(props.get("print.partition")),
            offset=is_true(props.get("print.offset")),
            key=is_true(props.get("print.key")),
            value=props.get("print.value", "true").strip().lower() != "false",
            separator=separator(props.get("key.separator", "\t")).encode(),
            line_separator=separator(props.get("line.separator", "\n")).encode(),
            null=props.get("null.literal", "null").encode(),
        )

    def __call__(self, msg: Message) -> bytes:
        parts: list[bytes] = []
        if self.timestamp:
            kind, stamp = msg.timestamp()
            name = {1: "CreateTime", 2: "LogAppendTime"}.get(kind)
            parts.append(f"{name}:{stamp}".encode() if name else b"NO_TIMESTAMP")
        if self.partition:
            parts.append(f"Partition:{msg.partition()}".encode())
        if self.offset:
            parts.append(f"Offset:{msg.offset()}".encode())
        if self.key:
            parts.append(self.null if msg.key() is None else msg.key())
        if self.value:
            parts.append(self.null if msg.value() is None else msg.value())
        return self.separator.join(parts) + self.line_separator


def _start_offset(args: argparse.Namespace) -> int:
    if args.offset is None:
        return OFFSET_BEGINNING if args.from_beginning else OFFSET_END
    named = {"earliest": OFFSET_BEGINNING, "latest": OFFSET_END}.get(args.offset.lower())
    if named is not None:
        return named
    try:
        return int(args.offset)
    except ValueError:
        raise CliError(
            f"--offset must be earliest, latest or a number, got {args.offset!r}"
        ) from None


def _check(args: argparse.Namespace) -> None:
    if args.offset is not None and args.partition is None:
        raise CliError("--offset needs --partition")
    if args.partition is not None and args.group:
        raise CliError("--partition cannot be combined with --group")
    if args.from_beginning and args.offset is not None:
        raise CliError("--from-beginning cannot be combined with --offset")


@reporting_errors
def main(args: argparse.Namespace) -> int:
    _check(args)
    formatter = Formatter.from_properties(properties(args.property))
    start = _start_offset(args) if args.partition is not None else None
    _, metadata = connect_admin(args)
    meta = topic_metadata(metadata, args.topic)
    if args.partition is not None and args.partition not in meta.partitions:
        raise CliError(f"topic '{args.topic}' has no partition {args.partition}")
    config = settings(args)
    errors = FatalErrors()
    consumer: Any = client(
        Consumer,
        {
            **config,
            "group.id": args.group or f"console-consumer-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest" if args.from_beginning else "latest",
            "enable.auto.commit": bool(args.group),
            "enable.auto.offset.store": False,
            "error_cb": errors,
        },
    )
    # --timeout-ms counts from when partitions are assigned, so a slow join does not eat it.
    quiet_since = time.monotonic() + (JOIN_ALLOWANCE_S if start is None else 0.0)

    def assigned(_consumer: Any, _partitions: list[TP]) -> None:
        nonlocal quiet_since
        quiet_since = min(quiet_since, time.monotonic())

    if start is None:
        consumer.subscribe([args.topic], **taking_changes(config, on_assign=assigned))
    else:
        consumer.assign([TP(args.topic, args.partition, start)])
    timeout = args.timeout_ms / 1000 if args.timeout_ms is not None else None
    count = 0
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and (args.max_messages is None or count < args.max_messages):
            msg = consumer.poll(0.1)
            errors.raise_if_any(config["bootstrap.servers"])
            if msg is None:
                if timeout is not None and time.monotonic() - quiet_since >= timeout:
                    break
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise CliError(msg.error().str())
            quiet_since = time.monotonic()
            sys.stdout.buffer.write(formatter(msg))
            sys.stdout.buffer.flush()
            count += 1
            if args.group:
                consumer.store_offsets(msg)
    except KeyboardInterrupt:  # Ctrl-C ends a console consumer normally, as in Kafka
        pass
    finally:
        consumer.close()  # leaves the group; with --group it commits what was printed
    print(f"Processed a total of {count} messages", file=sys.stderr)
    return 0
