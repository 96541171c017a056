"""``chirpstream leader-election``: what ``kafka-leader-election.sh`` does and prints.

``--election-type preferred`` moves a partition's leadership back to its preferred replica
(the first of its replicas) when that replica is in the ISR; ``unclean`` gives a partition
with no leader one from outside the ISR (losing what only the old leader had). Either goes
as ElectLeaders (43) to the active controller, found from a controller listener
(``--bootstrap-controller``) with DescribeQuorum: this project's brokers do not forward
ElectLeaders, so the request goes where Kafka's brokers would forward it.

The output is Kafka's: "Successfully completed leader election (PREFERRED) for partitions
t-0", "Valid replica already elected for partitions t-0" (ELECTION_NOT_NEEDED), and per
failed partition "Error completing leader election (...) for partition: t-0: ...", then
one ``error:`` line and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
from typing import Any

from kio.schema.elect_leaders.v2.request import ElectLeadersRequest, TopicPartitions
from kio.schema.errors import ErrorCode

from broker.net.client import ClientError, KafkaClient
from chirpstream.tools.common import TIMEOUT_S, CliError, reporting_errors
from chirpstream.tools.quorum import DEFAULT_CONTROLLER, address, describe

ELECTION_TYPES = {"PREFERRED": 0, "UNCLEAN": 1}  # Kafka's ElectionType codes


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-controller",
        default=DEFAULT_CONTROLLER,
        metavar="HOST:PORT",
        help=f"a controller's CONTROLLER listener (default {DEFAULT_CONTROLLER})",
    )
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


@reporting_errors
def main(args: argparse.Namespace) -> int:
    request = _request(args)
    host, port = address(args.bootstrap_controller)
    answer = asyncio.run(_elect(host, port, request))
    return _report(args.election_type, answer)


def _request(args: argparse.Namespace) -> ElectLeadersRequest:
    if args.election_type is None:
        raise CliError("Missing required option(s): --election-type")
    if bool(args.topic) == args.all_topic_partitions:
        raise CliError("One and only one of --topic, --all-topic-partitions is required")
    if args.topic and args.partition is None:
        raise CliError("Missing required option(s): --partition")
    if args.partition is not None and not args.topic:
        raise CliError("Option --partition is only allowed if --topic is used")
    wanted = None
    if args.topic:
        wanted = (TopicPartitions(topic=args.topic, partitions=(args.partition,)),)
    return ElectLeadersRequest(
        election_type=ELECTION_TYPES[args.election_type],
        topic_partitions=wanted,
        timeout=datetime.timedelta(seconds=TIMEOUT_S),
    )


async def _elect(host: str, port: int, request: ElectLeadersRequest) -> Any:
    """ElectLeaders to the active controller (the quorum's leader)."""
    quorum = await describe(host, port)
    leader_id = quorum.topics[0].partitions[0].leader_id
    listeners = [n.listeners[0] for n in quorum.nodes if n.node_id == leader_id and n.listeners]
    if listeners:
        host, port = listeners[0].host, listeners[0].port
    client = KafkaClient(host, port, client_id="chirpstream-leader-election")
    try:
        answer = await client.request(request, timeout_s=TIMEOUT_S * 2)
    except ClientError as exc:
        raise CliError(f"cannot reach the active controller at {host}:{port}: {exc}") from None
    finally:
        await client.close()
    if answer.error_code is not ErrorCode.none:
        raise CliError(f"leader election refused: {answer.error_code.name.upper()}")
    return answer


def _report(election_type: str, answer: Any) -> int:
    succeeded, noop, failed = [], [], []
    for topic in answer.replica_election_results:
        for result in topic.partition_result:
            name = f"{topic.topic}-{result.partition_id}"
            if result.error_code is ErrorCode.none:
                succeeded.append(name)
            elif result.error_code is ErrorCode.election_not_needed:
                noop.append(name)
            else:
                detail = result.error_message or ""
                failed.append(f"{name}: {result.error_code.name.upper()}: {detail}".rstrip(": "))
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
