"""``chirpstream delete-records``: what ``kafka-delete-records.sh`` does and prints.

``--offset-json-file`` names the partitions and the offset each one's records are deleted
below, in Kafka's format: ``{"partitions": [{"topic": "t", "partition": 0, "offset": 42}],
"version": 1}`` (offset -1: up to the high watermark; ``version`` may be left out). The
request goes as DeleteRecords (21) to each partition's leader through confluent-kafka's
``delete_records``, which answers once every in-sync replica starts there.

The output is Kafka's: "Executing records delete operation", "Records delete operation
completed:", then one ``partition: t-0<TAB>low_watermark: 42`` line per partition, or
``partition: t-0<TAB>error: ...`` for one that failed, followed by one ``error:`` line and exit
code 1. A file Kafka's tool refuses is refused with its reason, on one line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from confluent_kafka import KafkaException, TopicPartition

from chirpstream.client_config import add_client_arguments
from chirpstream.tools.common import TIMEOUT_S, CliError, connect_admin, reporting_errors

VERSION = 1  # the one version of the file format


def build_parser(parser: argparse.ArgumentParser) -> None:
    add_client_arguments(parser)
    parser.add_argument(
        "--offset-json-file",
        metavar="FILE",
        help='the partitions and offsets, as {"partitions": [{"topic": "t", "partition": 0, '
        '"offset": 42}], "version": 1} (offset -1: up to the high watermark)',
    )


@reporting_errors
def main(args: argparse.Namespace) -> int:
    if args.offset_json_file is None:
        raise CliError("Missing required option(s): --offset-json-file")
    wanted = read_offset_json_file(Path(args.offset_json_file))
    admin, _ = connect_admin(args)
    print("Executing records delete operation")
    futures = admin.delete_records(wanted, request_timeout=TIMEOUT_S, operation_timeout=TIMEOUT_S)
    print("Records delete operation completed:")
    failed = 0
    for tp, future in futures.items():
        try:
            deleted = future.result(TIMEOUT_S)
        except KafkaException as exc:
            print(f"partition: {tp.topic}-{tp.partition}\terror: {exc.args[0].str()}")
            failed += 1
        else:
            print(f"partition: {tp.topic}-{tp.partition}\tlow_watermark: {deleted.low_watermark}")
    if failed:
        raise CliError(f"the records of {failed} partition(s) could not be deleted")
    return 0


def read_offset_json_file(path: Path) -> list[TopicPartition]:
    """The partitions and offsets of an ``--offset-json-file``, refused as Kafka's
    ``DeleteRecordsCommand`` refuses them."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise CliError(f"{path}: the input string is not a valid JSON") from None
    if not isinstance(data, dict):
        raise CliError(f'{path}: expected an object with a "partitions" field')
    version = data.get("version", VERSION)
    if version != VERSION:
        raise CliError(f"{path}: not supported version field value {version}")
    if "partitions" not in data:
        raise CliError(f"{path}: missing partitions field")
    try:
        wanted = [
            (_text(p["topic"]), _number(p["partition"]), _number(p["offset"]))
            for p in data["partitions"]
        ]
    except (TypeError, KeyError, ValueError):
        raise CliError(
            f'{path}: each of "partitions" needs a "topic", a "partition" number and an '
            '"offset" number'
        ) from None
    if not wanted:
        raise CliError(f"{path}: no partitions to delete records from")
    if any(partition < 0 for _, partition, _ in wanted):
        raise CliError(f"{path}: a partition number cannot be negative")
    pairs = [(topic, partition) for topic, partition, _ in wanted]
    twice = sorted({f"{t}-{p}" for t, p in pairs if pairs.count((t, p)) > 1})
    if twice:
        raise CliError(
            f"{path}: offset json file contains duplicate topic partitions: {', '.join(twice)}"
        )
    return [TopicPartition(topic, partition, offset) for topic, partition, offset in wanted]


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _number(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(value)
    return value
