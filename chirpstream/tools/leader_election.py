"""``chirpstream leader-election``: what ``kafka-leader-election.sh`` does and prints.

``--election-type preferred`` moves a partition's leadership back to its preferred replica
(the first of its replicas) when that replica is in the ISR; ``unclean`` gives a partition
with no leader one from outside the ISR (losing what only the old leader had). The partitions
are one ``--topic``/``--partition``, those listed in ``--path-to-json-file`` (Kafka's
``{"partitions": [{"topic": "t", "partition": 0}, ...]}``), or ``--all-topic-partitions``
(every partition the election applies to). The request goes as ElectLeaders (43) to a broker
of ``--bootstrap-server``, which forwards it to the active controller, as Kafka's tool does
through its Admin client.

The output is Kafka's: "Successfully completed leader election (PREFERRED) for partitions
t-0", "Valid replica already elected for partitions t-0" (ELECTION_NOT_NEEDED), and per
failed partition "Error completing leader election (...) for partition: t-0: ...", then
one ``error:`` line and exit code 1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from confluent_kafka import ElectionType, KafkaError, TopicPartition
from kio.schema.errors import ErrorCode

from chirpstream.client_config import add_client_arguments
from chirpstream.tools.common import CliError, connect_admin, reporting_errors, result

ELECTION_TYPES = {"PREFERRED": ElectionType.PREFERRED, "UNCLEAN": ElectionType.UNCLEAN}
_CHOICES = ("--topic", "--all-topic-partitions", "--path-to-json-file")


def build_parser(parser: argparse.ArgumentParser) -> None:
    add_client_arguments(parser)
    parser.add_argument(
        "--election-type",
        type=str.upper,
        choices=ELECTION_TYPES,
        metavar="preferred|unclean",
        help="preferred: back to the first replica; unclean: a leader from outside the ISR",
    )
    parser.add_argument("--topic", metavar="TOPIC")
    parser.add_argument("--partition", type=int, metavar="P")
    parser.add_argument(
        "--all-topic-partitions",
        action="store_true",
        help="every partition the election type applies to",
    )
    parser.add_argument(
        "--path-to-json-file",
        metavar="FILE",
        help='the partitions, as {"partitions": [{"topic": "t", "partition": 0}, ...]}',
    )


@reporting_errors
def main(args: argparse.Namespace) -> int:
    partitions = _partitions(args)
    admin, _ = connect_admin(args)
    answer = result(admin.elect_leaders(ELECTION_TYPES[args.election_type], partitions))
    return _report(args.election_type, answer)


def _partitions(args: argparse.Namespace) -> list[TopicPartition] | None:
    """The partitions asked for (None: all), after Kafka's checks of the options."""
    if args.election_type is None:
        raise CliError("Missing required option(s): --election-type")
    given = [args.topic is not None, args.all_topic_partitions, args.path_to_json_file is not None]
    if sum(given) != 1:
        raise CliError(
            f"One and only one of the following options is required: {', '.join(_CHOICES)}"
        )
    if args.topic is not None and args.partition is None:
        raise CliError("Missing required option(s): --partition")
    if args.partition is not None and args.topic is None:
        raise CliError("Option --partition is only allowed if --topic is used")
    if args.topic is not None:
        return [TopicPartition(args.topic, args.partition)]
    if args.path_to_json_file is not None:
        return _read_json_file(Path(args.path_to_json_file))
    return None


def _read_json_file(path: Path) -> list[TopicPartition]:
    """The partitions of a ``--path-to-json-file``, refused as Kafka refuses them."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or "partitions" not in data:
        raise CliError('Replica election data is missing "partitions" field')
    try:
        pairs = [(str(p["topic"]), int(p["partition"])) for p in data["partitions"]]
    except (TypeError, KeyError, ValueError):
        raise CliError(
            f'{path}: each of "partitions" needs a "topic" and a "partition" number'
        ) from None
    twice = sorted({f"{t}-{p}" for t, p in pairs if pairs.count((t, p)) > 1})
    if twice:
        raise CliError(f"Replica election data contains duplicate partitions: {', '.join(twice)}")
    return [TopicPartition(topic, partition) for topic, partition in pairs]


def _kafka_name(error: KafkaError) -> str:
    """The error's name as Kafka's ``Errors`` spells it (librdkafka shortens a few)."""
    try:
        return ErrorCode(error.code()).name.upper()
    except ValueError:  # one of librdkafka's own, negative codes
        return error.name()


def _report(election_type: str, answer: dict[TopicPartition, KafkaError | None]) -> int:
    succeeded, noop, failed = [], [], []
    for tp in sorted(answer, key=lambda tp: (tp.topic, tp.partition)):
        name, error = f"{tp.topic}-{tp.partition}", answer[tp]
        if error is None:
            succeeded.append(name)
        elif error.code() == KafkaError.ELECTION_NOT_NEEDED:
            noop.append(name)
        else:
            failed.append(f"{name}: {_kafka_name(error)}: {error.str()}")
    if succeeded:
        print(
            f"Successfully completed leader election ({election_type}) for partitions"
            f" {', '.join(succeeded)}"
        )
    if noop:
        print(f"Valid replica already elected for partitions {', '.join(noop)}")
    for line in failed:
        print(f"Error completing leader election ({election_type}) for partition: {line}")
    if failed:
        raise CliError(f"{len(failed)} replica(s) could not be elected")
    return 0
