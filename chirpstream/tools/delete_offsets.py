"""``chirpstream groups --delete-offsets``: what ``kafka-consumer-groups.sh --delete-offsets``
does and prints.

Each ``--topic T`` asks for every partition of T (a topic the cluster does not know gets one
``T -1`` row with its error, as Kafka's tool shows it), ``--topic T:0,2`` for those
partitions. The request goes as OffsetDelete (47) to the group's coordinator, which
DescribeGroups named (confluent-kafka's Python admin client has no OffsetDelete); it is
sent on a plain connection, so a cluster that wants TLS or SASL refuses it.

The output is Kafka's: "Request succeed for deleting offsets with topic T group G", or its
message for the group's error, then the TOPIC / PARTITION / STATUS table ("Successful", or
"Error: ..."). Any error ends with one ``error:`` line and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from confluent_kafka import KafkaError
from confluent_kafka.admin import ClusterMetadata
from kio.schema.errors import ErrorCode
from kio.schema.offset_delete.v0.request import (
    OffsetDeleteRequest,
    OffsetDeleteRequestPartition,
    OffsetDeleteRequestTopic,
)
from kio.schema.types import GroupId, TopicName
from kio.static.primitive import i32

from chirpstream.tools.common import CliError, ask_once, print_table

Key = tuple[str, int]  # (topic, partition)

_PARTITION_ERRORS = (
    ErrorCode.group_subscribed_to_topic,
    ErrorCode.topic_authorization_failed,
    ErrorCode.unknown_topic_or_partition,
)


def delete_offsets(
    metadata: ClusterMetadata, args: argparse.Namespace, coordinator: tuple[str, int] | None
) -> None:
    """Delete ``args.group``'s offsets of the ``--topic`` partitions at its ``coordinator``
    (host, port) and print Kafka's report; raises CliError after printing when any failed."""
    group = args.group
    asked: list[Key] = []
    rows: dict[Key, ErrorCode] = {}
    for spec in args.topic:
        topic, _, wanted = spec.partition(":")
        if wanted:
            asked += [(topic, p) for p in _numbers(spec, wanted)]
        elif topic in metadata.topics and metadata.topics[topic].error is None:
            asked += [(topic, p) for p in sorted(metadata.topics[topic].partitions)]
        else:
            rows[(topic, -1)] = ErrorCode.unknown_topic_or_partition
    if coordinator is None:
        raise CliError(f"no coordinator found for group '{group}'")
    answer = asyncio.run(_send(*coordinator, group, asked))
    group_error = answer.error_code
    if group_error is not ErrorCode.none:
        rows.update(dict.fromkeys(asked, group_error))
    else:
        for topic in answer.topics:
            for partition in topic.partitions:
                rows[(topic.name, partition.partition_index)] = partition.error_code
    first = next((rows[key] for key in asked if rows.get(key, ErrorCode.none)), ErrorCode.none)
    top = group_error if group_error is not ErrorCode.none else first
    message = _top_level(top, group)
    if message is None:
        topics = ", ".join(args.topic)
        print(f"Request succeed for deleting offsets with topic {topics} group {group}")
    print()
    ordered = sorted(rows.items(), key=lambda row: row[0][0] + str(row[0][1]))
    print_table(
        ["TOPIC", "PARTITION", "STATUS"],
        [[topic, partition, _status(error)] for (topic, partition), error in ordered],
    )
    failed = sum(error is not ErrorCode.none for error in rows.values())
    if message is not None:
        raise CliError(message)
    if failed:
        raise CliError(f"the offsets of {failed} partition(s) could not be deleted")


def _numbers(spec: str, wanted: str) -> list[int]:
    try:
        chosen = sorted({int(p) for p in wanted.split(",") if p.strip()})
    except ValueError:
        raise CliError(f"bad --topic {spec!r}: partitions must be numbers") from None
    if any(p < 0 for p in chosen):
        raise CliError(f"bad --topic {spec!r}: a partition number cannot be negative")
    return chosen


def _top_level(error: ErrorCode, group: str) -> str | None:
    """Kafka's tool's line for the request's error (None: it succeeded)."""
    if error is ErrorCode.none:
        return None
    if error is ErrorCode.invalid_group_id:
        return f"'{group}' is not valid."
    if error is ErrorCode.group_id_not_found:
        return f"'{group}' does not exist."
    if error is ErrorCode.non_empty_group:
        return (
            f"Deleting offsets of a consumer group '{group}' is forbidden if the group is not "
            "empty."
        )
    if error in _PARTITION_ERRORS:
        return "Encounter some partition level error, see the follow-up details above."
    return f"Encounter some unknown error: {error.name.upper()}"


def _status(error: ErrorCode) -> str:
    if error is ErrorCode.none:
        return "Successful"
    return f"Error: {KafkaError(error.value).str()}"


async def _send(host: str, port: int, group: str, asked: list[Key]) -> Any:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in asked:
        by_topic.setdefault(topic, []).append(partition)
    request = OffsetDeleteRequest(
        group_id=GroupId(group),
        topics=tuple(
            OffsetDeleteRequestTopic(
                name=TopicName(topic),
                partitions=tuple(OffsetDeleteRequestPartition(partition_index=i32(p)) for p in ps),
            )
            for topic, ps in by_topic.items()
        ),
    )
    return await ask_once(
        host, port, request, client_id="chirpstream-groups", node="the group coordinator"
    )
