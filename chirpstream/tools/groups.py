"""``chirpstream groups``: kafka-consumer-groups.sh's --list, --describe, --reset-offsets and
--delete-offsets (``chirpstream.tools.delete_offsets``).

``--describe`` shortens each member id's 36-character UUID to its first 8 characters and ``…``
(``rdkafka-0ff02b99…``), so the table fits a projector; ``--full-ids`` prints them whole.

On a PLAINTEXT cluster the groups are listed, described, their commits read and reset by
the project's wire client (``dashboard.cluster_probe``): librdkafka 2.16.0's admin group calls
crash the process now and then while a broker restarts (ListConsumerGroupOffsets segfaults
when a coordinator answers NOT_COORDINATOR, librdkafka issue 5040; DescribeConsumerGroups
aborts on an ``eonce`` reference count in the coordinator request code that
AlterConsumerGroupOffsets shares). On a TLS or SASL cluster, which the wire client cannot
reach, librdkafka's admin client asks.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata
from kio.schema.errors import ErrorCode

from chirpstream.client_config import add_client_arguments
from chirpstream.tools.common import (
    TIMEOUT_S,
    CliError,
    connect_admin,
    print_table,
    reporting_errors,
    result,
    scratch_consumer,
    settings,
    topic_metadata,
)
from chirpstream.tools.delete_offsets import delete_offsets
from dashboard.cluster_probe import ClusterProbe, GroupInfo, librdkafka_group_info, speaks

Key = tuple[str, int]  # (topic, partition)

DESCRIBE_COLUMNS = [
    "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
    "CONSUMER-ID", "HOST", "CLIENT-ID",
]  # fmt: skip
RESETS = ("to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime")
# The UUID the group coordinator appends to the client id to make a member id.
MEMBER_UUID = re.compile(r"-([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def build_parser(parser: argparse.ArgumentParser) -> None:
    add_client_arguments(parser)
    parser.add_argument("--list", action="store_true", help="list consumer groups")
    parser.add_argument("--describe", action="store_true", help="offsets and lag of a group")
    parser.add_argument(
        "--reset-offsets", action="store_true", help="move a group's committed offsets"
    )
    parser.add_argument(
        "--delete-offsets", action="store_true", help="delete a group's committed offsets"
    )
    parser.add_argument("--group", metavar="GROUP")
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="TOPIC[:P,...]",
        help="with --reset-offsets or --delete-offsets: the topic, or some of its partitions",
    )
    parser.add_argument("--to-earliest", action="store_true")
    parser.add_argument("--to-latest", action="store_true")
    parser.add_argument("--to-offset", type=int, metavar="N")
    parser.add_argument("--shift-by", type=int, metavar="N")
    parser.add_argument("--to-datetime", metavar="YYYY-MM-DDTHH:mm:SS.sss")
    parser.add_argument("--execute", action="store_true", help="apply the reset (else dry run)")
    parser.add_argument(
        "--full-ids",
        action="store_true",
        help="with --describe: whole member ids (default: the UUID's first 8 characters and …)",
    )
    parser.add_argument("--dry-run", action="store_true", help="only print the plan (default)")


@reporting_errors
def main(args: argparse.Namespace) -> int:
    action = _action(args)
    admin, metadata = connect_admin(args)
    if action == "list":
        for group in _group_ids(admin, args):
            print(group)
        return 0
    description = _group(admin, args)
    if action == "describe":
        _describe(admin, metadata, args, description)
    elif action == "delete_offsets":
        delete_offsets(metadata, args, description.coordinator)
    else:
        _reset(admin, metadata, args, description)
    return 0


def _probe(args: argparse.Namespace) -> ClusterProbe | None:
    """The wire client to this invocation's cluster; None when it needs TLS or SASL."""
    config = settings(args)
    return ClusterProbe(config["bootstrap.servers"], None, TIMEOUT_S) if speaks(config) else None


T = TypeVar("T")


def _asked(probe: ClusterProbe, question: Callable[[ClusterProbe], T | None], unanswered: str) -> T:
    """``question``'s answer by ``probe``, which is closed after; ``unanswered`` (what to do)
    when no broker answered it (None)."""
    try:
        found = question(probe)
    finally:
        probe.close()
    if found is None:
        raise CliError(unanswered)
    return found


def _group_ids(admin: AdminClient, args: argparse.Namespace) -> list[str]:
    """Every consumer group the brokers list, sorted."""
    probe = _probe(args)
    if probe is None:
        listed = result(admin.list_consumer_groups(request_timeout=TIMEOUT_S))
        return sorted(g.group_id for g in listed.valid)
    return _asked(
        probe,
        lambda probe: None if (view := probe.view()) is None else probe.group_ids(view),
        "no broker answered ListGroups; try again in a moment",
    )


def _group(admin: AdminClient, args: argparse.Namespace) -> GroupInfo:
    """``--group`` as its coordinator describes it."""
    probe = _probe(args)
    if probe is None:
        futures = admin.describe_consumer_groups([args.group], request_timeout=TIMEOUT_S)
        desc = result(futures[args.group])
        coordinator = (desc.coordinator.host, desc.coordinator.port) if desc.coordinator else None
        return replace(librdkafka_group_info(args.group, desc), coordinator=coordinator)
    return _asked(probe, lambda probe: probe.group(args.group), _no_coordinator(args.group))


def _no_coordinator(group: str) -> str:
    return (
        f"the coordinator of the group {group} did not answer; try again in a moment (a broker"
        " may be restarting)"
    )


def _action(args: argparse.Namespace) -> str:
    actions = ("list", "describe", "reset_offsets", "delete_offsets")
    chosen = [a for a in actions if getattr(args, a)]
    if len(chosen) != 1:
        raise CliError(
            "exactly one of --list, --describe, --reset-offsets, --delete-offsets is needed"
        )
    action = chosen[0]
    if action != "list" and not args.group:
        raise CliError(f"--{action.replace('_', '-')} needs --group")
    if action == "reset_offsets":
        given = [r for r in RESETS if getattr(args, r) not in (None, False)]
        if len(given) != 1:
            raise CliError(
                "--reset-offsets needs exactly one of --to-earliest, --to-latest, --to-offset, "
                "--shift-by, --to-datetime"
            )
        if not args.topic:
            raise CliError("--reset-offsets needs --topic")
    if action == "delete_offsets" and not args.topic:
        raise CliError("--delete-offsets needs --topic")
    return action


def _state(description: GroupInfo) -> str:
    """Kafka's spelling of the state (``Stable``), as kafka-consumer-groups.sh prints it."""
    return "".join(word.capitalize() for word in description.state.split("_"))


def _committed(admin: AdminClient, args: argparse.Namespace) -> dict[Key, int]:
    """The group's committed offsets: by the probe's OffsetFetch where it can ask (PLAINTEXT),
    as librdkafka 2.16.0's admin ListConsumerGroupOffsets crashes the process (SIGSEGV) when a
    coordinator answers NOT_COORDINATOR, as one does while a broker restarts (librdkafka issue
    5040); by librdkafka on a TLS or SASL cluster."""
    probe = _probe(args)
    if probe is not None:
        found = _asked(
            probe, lambda probe: probe.committed(args.group), _no_coordinator(args.group)
        )
        return {key: offset for key, offset in found.items() if offset >= 0}
    futures = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(args.group)], request_timeout=TIMEOUT_S
    )
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in result(futures[args.group]).topic_partitions
        if tp.error is None and tp.offset >= 0
    }


def _commit(admin: AdminClient, args: argparse.Namespace, plan: list[tuple[str, int, int]]) -> None:
    """Commit the plan's offsets for the group: by the probe's OffsetCommit where it can ask
    (PLAINTEXT), as librdkafka's AlterConsumerGroupOffsets goes through the same coordinator
    request code as its DescribeConsumerGroups, which aborts the process now and then while
    brokers restart; by librdkafka on a TLS or SASL cluster."""
    probe = _probe(args)
    if probe is not None:
        errors = _asked(
            probe,
            lambda probe: probe.commit(args.group, {(t, p): o for t, p, o in plan}),
            f"the coordinator of the group {args.group} did not confirm the reset; run it again"
            " (a broker may be restarting)",
        )
        for (topic, partition), error in sorted(errors.items()):
            if error is not ErrorCode.none:
                raise CliError(f"cannot reset {topic}-{partition}: {KafkaError(error.value).str()}")
        return
    request = ConsumerGroupTopicPartitions(
        args.group, [TopicPartition(t, p, o) for t, p, o in plan]
    )
    altered = result(admin.alter_consumer_group_offsets([request])[args.group])
    for tp in altered.topic_partitions:
        if tp.error is not None:
            raise CliError(f"cannot reset {tp.topic}-{tp.partition}: {tp.error.str()}")


def _watermarks(args: argparse.Namespace, keys: Sequence[Key]) -> dict[Key, tuple[int, int]]:
    if not keys:
        return {}
    consumer = scratch_consumer(args)
    try:
        return {
            (topic, p): consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=TIMEOUT_S, cached=False
            )
            for topic, p in keys
        }
    finally:
        consumer.close()


def short_member_id(member_id: str) -> str:
    """A member id with its UUID cut to 8 characters: ``rdkafka-0ff02b99…``."""
    return MEMBER_UUID.sub(r"-\1…", member_id)


def _describe(
    admin: AdminClient, metadata: ClusterMetadata, args: argparse.Namespace, desc: GroupInfo
) -> None:
    shown = (lambda member_id: member_id) if args.full_ids else short_member_id
    committed = _committed(admin, args)
    owner = {key: member for member in desc.members for key in member.assignment}
    if _state(desc) == "Dead":
        raise CliError(f"consumer group '{args.group}' does not exist")
    if not desc.members:
        print(f"\nConsumer group '{args.group}' has no active members.")
    keys = sorted(set(committed) | set(owner))
    ends = _watermarks(args, [k for k in keys if k[0] in metadata.topics])
    rows = []
    for key in keys:
        member = owner.get(key)
        current = committed.get(key)
        end = ends[key][1] if key in ends else None
        lag = end - current if current is not None and end is not None else None
        who = [shown(member.member_id), member.host, member.client_id] if member else [None] * 3
        rows.append([args.group, *key, current, end, lag, *who])
    # Members without partitions still show, as in Kafka's tool: an idle consumer is a lesson.
    for member in desc.members:
        if not member.assignment:
            rows.append(
                [args.group, *[None] * 5, shown(member.member_id), member.host, member.client_id]
            )
    print()
    print_table(DESCRIBE_COLUMNS, rows)


def _partitions(metadata: ClusterMetadata, spec: str) -> list[Key]:
    """``T`` or ``T:0,2`` (kafka-consumer-groups.sh's --topic syntax)."""
    topic, _, wanted = spec.partition(":")
    meta = topic_metadata(metadata, topic)
    if not wanted:
        return [(topic, p) for p in sorted(meta.partitions)]
    try:
        chosen = sorted({int(p) for p in wanted.split(",") if p.strip()})
    except ValueError:
        raise CliError(f"bad --topic {spec!r}: partitions must be numbers") from None
    missing = [p for p in chosen if p not in meta.partitions]
    if missing:
        raise CliError(f"topic '{topic}' has no partition {missing[0]}")
    return [(topic, p) for p in chosen]


def _reset(
    admin: AdminClient, metadata: ClusterMetadata, args: argparse.Namespace, desc: GroupInfo
) -> None:
    if desc.members:
        raise CliError(
            f"assignments can only be reset if the group '{args.group}' is inactive, "
            f"but the current state is {_state(desc)}"
        )
    targets = [key for spec in args.topic for key in _partitions(metadata, spec)]
    marks = _watermarks(args, targets)
    committed = _committed(admin, args) if args.shift_by is not None else {}
    at_time = _offsets_for_time(args, targets) if args.to_datetime is not None else {}
    plan: list[tuple[str, int, int]] = []
    for key in targets:
        low, high = marks[key]
        if args.to_earliest:
            new = low
        elif args.to_latest:
            new = high
        elif args.to_offset is not None:
            new = args.to_offset
        elif args.shift_by is not None:
            new = committed.get(key, low) + args.shift_by
        else:
            new = at_time[key] if at_time[key] >= 0 else high
        if not low <= new <= high:
            clamped = min(max(new, low), high)
            print(
                f"warning: new offset {new} is out of range for {key[0]}-{key[1]} "
                f"[{low}, {high}]; using {clamped}",
                file=sys.stderr,
            )
            new = clamped
        plan.append((*key, new))
    if args.execute:
        _commit(admin, args, plan)
    elif not args.dry_run:
        print("note: a dry run; add --execute to apply it", file=sys.stderr)
    print()
    print_table(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], [[args.group, *p] for p in plan])


def _offsets_for_time(args: argparse.Namespace, targets: Sequence[Key]) -> dict[Key, int]:
    """The first offset at or after --to-datetime per partition (-1 when there is none)."""
    try:
        when = datetime.fromisoformat(args.to_datetime)
    except ValueError:
        raise CliError(
            f"--to-datetime must be ISO 8601 like 2026-01-31T12:00:00.000, got {args.to_datetime!r}"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time, as Kafka's tool reads it
    stamp = int(when.timestamp() * 1000)
    consumer = scratch_consumer(args)
    try:
        found = consumer.offsets_for_times(
            [TopicPartition(t, p, stamp) for t, p in targets], timeout=TIMEOUT_S
        )
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in found}
