"""``chirpstream topics``: kafka-topics.sh's --list, --describe, --create, --alter, --delete.

``--describe --under-replicated-partitions`` (fewer replicas in the ISR than the replication
factor) and ``--unavailable-partitions`` (no leader, or a leader that is not a live broker)
print, as kafka-topics.sh does, only the matching partitions' lines and no topic lines.
"""

from __future__ import annotations

import argparse

from confluent_kafka import TopicCollection
from confluent_kafka.admin import (
    AdminClient,
    ClusterMetadata,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    PartitionMetadata,
)

from chirpstream.client_config import ConfigError, add_client_arguments, parse_setting
from chirpstream.tools.common import (
    TIMEOUT_S,
    CliError,
    connect_admin,
    reporting_errors,
    result,
    topic_metadata,
)

ACTIONS = ("list", "describe", "create", "delete", "alter")


def build_parser(parser: argparse.ArgumentParser) -> None:
    add_client_arguments(parser)
    parser.add_argument("--list", action="store_true", help="list all topics")
    parser.add_argument("--describe", action="store_true", help="partitions, leaders, replicas")
    parser.add_argument("--create", action="store_true", help="create a topic")
    parser.add_argument("--delete", action="store_true", help="delete a topic")
    parser.add_argument("--alter", action="store_true", help="add partitions to a topic")
    parser.add_argument("--topic", metavar="TOPIC")
    parser.add_argument("--partitions", type=int, metavar="N")
    parser.add_argument("--replication-factor", type=int, metavar="R")
    parser.add_argument(
        "--config", action="append", default=[], metavar="KEY=VALUE", help="topic setting"
    )
    parser.add_argument("--if-not-exists", action="store_true")
    parser.add_argument("--if-exists", action="store_true")
    parser.add_argument(
        "--exclude-internal", action="store_true", help="hide internal topics (__...)"
    )
    parser.add_argument(
        "--under-replicated-partitions",
        action="store_true",
        help="with --describe: only partitions whose ISR is smaller than their replicas",
    )
    parser.add_argument(
        "--unavailable-partitions",
        action="store_true",
        help="with --describe: only partitions with no leader, or a leader that is down",
    )


@reporting_errors
def main(args: argparse.Namespace) -> int:
    action = _action(args)
    admin, metadata = connect_admin(args)
    names = sorted(n for n in metadata.topics if not (args.exclude_internal and n[:2] == "__"))
    if action == "list":
        for name in names:
            if args.topic in (None, name):
                print(name)
    elif action == "describe" and (args.under_replicated_partitions or args.unavailable_partitions):
        for name in [args.topic] if args.topic else names:
            for part in _partitions(metadata, name):
                if (args.under_replicated_partitions and len(part.isrs) < len(part.replicas)) or (
                    args.unavailable_partitions and part.leader not in metadata.brokers
                ):
                    _print_partition(name, part)
    elif action == "describe":
        for name in [args.topic] if args.topic else names:
            _describe(admin, metadata, name)
    elif action == "create":
        _create(admin, metadata, args)
    elif not _exists(metadata, args.topic):
        if not (action == "delete" and args.if_exists):
            raise CliError(f"topic '{args.topic}' does not exist")
    elif action == "delete":
        result(admin.delete_topics([args.topic], operation_timeout=TIMEOUT_S)[args.topic])
    else:
        _add_partitions(admin, metadata, args)
    return 0


def _action(args: argparse.Namespace) -> str:
    chosen = [a for a in ACTIONS if getattr(args, a)]
    if len(chosen) != 1:
        raise CliError("exactly one of --list, --describe, --create, --delete, --alter is needed")
    action = chosen[0]
    if action in ("create", "delete", "alter") and not args.topic:
        raise CliError(f"--{action} needs --topic")
    if action != "describe" and (args.under_replicated_partitions or args.unavailable_partitions):
        raise CliError(
            "--under-replicated-partitions and --unavailable-partitions go with --describe"
        )
    if action in ("create", "alter") and args.partitions is None:
        raise CliError(f"--{action} needs --partitions")
    if args.partitions is not None and args.partitions < 1:
        raise CliError("--partitions must be at least 1")
    return action


def _exists(metadata: ClusterMetadata, topic: str) -> bool:
    return topic in metadata.topics and metadata.topics[topic].error is None


def _create(admin: AdminClient, metadata: ClusterMetadata, args: argparse.Namespace) -> None:
    if _exists(metadata, args.topic):
        if args.if_not_exists:
            return
        raise CliError(f"topic '{args.topic}' already exists")
    try:
        config = dict(parse_setting(c) for c in args.config)
    except ConfigError as exc:
        raise CliError(f"--config: {exc}") from None
    new = NewTopic(
        args.topic,
        num_partitions=args.partitions,
        replication_factor=args.replication_factor or -1,
        config=config,
    )
    result(admin.create_topics([new], operation_timeout=TIMEOUT_S)[args.topic])
    print(f"Created topic {args.topic}.")


def _add_partitions(admin: AdminClient, metadata: ClusterMetadata, args: argparse.Namespace):
    current = len(metadata.topics[args.topic].partitions)
    if args.partitions <= current:
        raise CliError(
            f"topic '{args.topic}' has {current} partitions; --partitions can only increase it"
        )
    result(admin.create_partitions([NewPartitions(args.topic, args.partitions)])[args.topic])


def _describe(admin: AdminClient, metadata: ClusterMetadata, name: str) -> None:
    """kafka-topics.sh --describe: a topic line, then a line per partition."""
    partitions = _partitions(metadata, name)
    described = admin.describe_topics(TopicCollection([name]), request_timeout=TIMEOUT_S)
    topic_id = result(described[name]).topic_id
    resource = ConfigResource("topic", name)
    entries = result(admin.describe_configs([resource], request_timeout=TIMEOUT_S)[resource])
    overrides = ",".join(
        f"{key}={entry.value}"
        for key, entry in sorted(entries.items())
        if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    )
    replication = len(partitions[0].replicas) if partitions else 0
    print(
        f"Topic: {name}\tTopicId: {topic_id}\tPartitionCount: {len(partitions)}\t"
        f"ReplicationFactor: {replication}\tConfigs: {overrides}"
    )
    for part in partitions:
        _print_partition(name, part)


def _partitions(metadata: ClusterMetadata, name: str) -> list[PartitionMetadata]:
    meta = topic_metadata(metadata, name)
    return [meta.partitions[p] for p in sorted(meta.partitions)]


def _print_partition(name: str, part: PartitionMetadata) -> None:
    """kafka-topics.sh's partition line; a partition without a leader shows ``none``."""
    replicas = ",".join(str(r) for r in part.replicas)
    isr = ",".join(str(r) for r in part.isrs)
    leader = part.leader if part.leader >= 0 else "none"
    print(
        f"\tTopic: {name}\tPartition: {part.id}\tLeader: {leader}\tReplicas: {replicas}\tIsr: {isr}"
    )
