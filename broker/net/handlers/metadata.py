"""Metadata (3): brokers, topics with real ids, partitions with leader and epoch.

The brokers are the image's unfenced ones, each at its endpoint for the listener the request
came in on, and the controller is the active controller (on one node, this node). A
partition lists as offline the replicas on brokers that are fenced or gone, and a partition
with no leader (none elected) is LEADER_NOT_AVAILABLE, as Kafka's brokers answer.

Unknown topics are created on first use when both the broker (``auto.create.topics.enable``)
and the request allow it, with ``num.partitions`` partitions, as Kafka does.

Authorized operations (v8+, asked for with ``include_*_authorized_operations``): with no
authorizer Kafka allows every operation its ACLs know for the resource type
(``AclEntry.supportedOperations``), and answers them as a bit set of ``AclOperation`` codes.
Not asked for, the field keeps Kafka's "omitted" value, INT32_MIN.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.controller.topics import NewTopic
from broker.metadata.image import (
    BrokerRegistration,
    MetadataImage,
    PartitionRegistration,
    TopicImage,
)
from broker.metadata.records import NO_LEADER, Endpoint
from broker.metadata.topics import TopicError, is_internal
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request, encode_body, response_frame

if TYPE_CHECKING:
    from broker.net.context import Context

log = logging.getLogger("broker.net")

# Kafka's AclOperation codes of the operations each resource type supports.
READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE = 3, 4, 5, 6, 7, 8
CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE = 9, 10, 11, 12
TOPIC_OPERATIONS = (READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS)
CLUSTER_OPERATIONS = (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
                      IDEMPOTENT_WRITE)  # fmt: skip
OMITTED = -(2**31)


def operation_bits(operations: tuple[int, ...]) -> int:
    """The authorized-operations bit set: bit ``code`` set for each allowed operation."""
    return sum(1 << code for code in operations)


def cluster_authorized_operations(asked: bool) -> int:
    """The cluster's authorized operations, or Kafka's "omitted" value when not asked for
    (Metadata v8-v10 and DescribeCluster answer the same)."""
    return operation_bits(CLUSTER_OPERATIONS) if asked else OMITTED


def broker_endpoints(
    image: MetadataImage, listener: str, *, include_fenced: bool = False
) -> list[tuple[BrokerRegistration, Endpoint]]:
    """The registered brokers by id, with their endpoint on ``listener`` (Kafka leaves out a
    broker without one); fenced ones only when asked for."""
    found = []
    for broker_id in sorted(image.brokers):
        broker = image.brokers[broker_id]
        if broker.fenced and not include_fenced:
            continue
        endpoint = _endpoint(broker, listener)
        if endpoint is not None:
            found.append((broker, endpoint))
    return found


def describe_topic(
    topic: TopicImage,
    image: MetadataImage,
    listener: str,
    version: int,
    with_operations: bool = False,
) -> dict:
    return {
        "error_code": ErrorCode.none,
        "name": topic.name,
        "topic_id": topic.topic_id,
        "is_internal": is_internal(topic.name),
        "topic_authorized_operations": (
            operation_bits(TOPIC_OPERATIONS) if with_operations else OMITTED
        ),
        "partitions": [
            _describe_partition(index, p, image, listener, version)
            for index, p in sorted(topic.partitions.items())
        ],
    }


def _describe_partition(
    index: int, partition: PartitionRegistration, image: MetadataImage, listener: str, version: int
) -> dict:
    """As Kafka's KRaftMetadataCache answers: a partition whose leader is not registered
    (none is elected) is LEADER_NOT_AVAILABLE with no leader id, one whose leader has no
    endpoint on this listener LISTENER_NOT_FOUND (v6+); a replica whose broker is not
    registered, is fenced or lacks the listener is offline."""
    brokers = image.brokers
    leader = brokers.get(partition.leader)
    leads = leader is not None and _endpoint(leader, listener) is not None
    error = ErrorCode.none
    if leader is None or (not leads and version < 6):
        error = ErrorCode.leader_not_available
    elif not leads:
        error = ErrorCode.listener_not_found
    return {
        "error_code": error,
        "partition_index": index,
        "leader_id": partition.leader if leads else NO_LEADER,
        "leader_epoch": partition.leader_epoch,
        "replica_nodes": list(partition.replicas),
        "isr_nodes": list(partition.isr),
        "offline_replicas": [
            replica
            for replica in partition.replicas
            if (broker := brokers.get(replica)) is None
            or broker.fenced
            or _endpoint(broker, listener) is None
        ],
    }


def _endpoint(broker: BrokerRegistration, listener: str) -> Endpoint | None:
    return next((e for e in broker.endpoints if e.name == listener), None)


def _requested_names(context: Context, request: Request) -> list[str | uuid.UUID | None] | None:
    """Topic names asked for, or None for all topics (v0 asks for all with an empty list).
    v10+ may ask by topic id instead (kio reads the all-zero id, "no id", as None): a known
    id becomes its name, an unknown one stays an id."""
    topics = request.body.topics
    if topics is None or (request.version == 0 and not topics):
        return None
    names: list[str | uuid.UUID | None] = []
    for entry in topics:
        if entry.name is not None or entry.topic_id is None:
            names.append(entry.name)
            continue
        found = context.metadata.image.topics_by_id.get(entry.topic_id)
        names.append(found.name if found else entry.topic_id)
    return names


MAX_CACHED_ANSWERS = 64


async def handle(context: Context, request: Request) -> bytes:
    metadata = context.metadata
    names = _requested_names(context, request)
    allow_create = context.config.auto_create_topics and getattr(
        request.body, "allow_auto_topic_creation", True
    )
    refused: dict[str, ErrorCode] = {}  # topics that could not be auto-created, and why
    if allow_create and names is not None:
        for name in names:
            if isinstance(name, str) and name not in metadata.image.topics:
                error = await _auto_create(context, name)
                if error is not None:
                    refused[name] = error
    operations = (
        getattr(request.body, "include_topic_authorized_operations", False),
        getattr(request.body, "include_cluster_authorized_operations", False),
    )
    key = (request.version, names if names is None else tuple(names),
           tuple(refused.items()), metadata.generation, operations)  # fmt: skip
    answers = context.metadata_answers
    body = answers.get(key)
    if body is None:
        if len(answers) >= MAX_CACHED_ANSWERS:
            answers.clear()  # old generations: nothing else refers to them
        answer = _answer(context, request.version, names, refused, *operations)
        body = answers[key] = encode_body(3, request.version, answer)
    return response_frame(3, request.version, request.correlation_id, body)


async def _auto_create(context: Context, name: str) -> ErrorCode | None:
    """Create a topic on first use, as Kafka does; the error if it cannot be created.
    While another request creates or deletes that name, or the controller has it already but
    this broker's image does not yet, the answer is LEADER_NOT_AVAILABLE (retriable)."""
    controller = context.controller
    if name in controller.creating or name in controller.deleting:
        return ErrorCode.leader_not_available
    partitions = context.config.num_partitions
    try:
        await controller.create_topic(
            NewTopic(name, partitions, context.config.default_replication_factor)
        )
    except TopicError as exc:
        if exc.code == ErrorCode.topic_already_exists:
            # Created elsewhere and not yet in this broker's image (a cluster): retriable,
            # as Kafka answers a topic whose creation it has asked for.
            return ErrorCode.leader_not_available
        return exc.code
    log.info("auto-created topic %r with %d partitions", name, partitions)
    return None


def _answer(
    context: Context,
    version: int,
    names: list[str | uuid.UUID | None] | None,
    refused: dict[str, ErrorCode],
    topic_operations: bool,
    cluster_operations: bool,
) -> dict:
    metadata = context.metadata
    image = metadata.image
    topics = []
    for name in image.topics if names is None else names:
        if isinstance(name, uuid.UUID):
            topics.append(
                {
                    "error_code": ErrorCode.unknown_topic_id,
                    "name": None,
                    "topic_id": name,
                    "partitions": [],
                }
            )
            continue
        topic = image.topics.get(name) if name is not None else None
        if topic is not None:
            topics.append(
                describe_topic(topic, image, context.listener.name, version, topic_operations)
            )
            continue
        error = refused.get(name, ErrorCode.unknown_topic_or_partition)
        topics.append({"error_code": error, "name": name, "topic_id": None, "partitions": []})
    return {
        "throttle_time": 0,
        "brokers": [
            {"node_id": broker.id, "host": e.host, "port": e.port, "rack": broker.rack}
            for broker, e in broker_endpoints(image, context.listener.name)
        ],
        "cluster_id": metadata.cluster_id,
        "controller_id": context.controller.controller_id,
        "topics": topics,
        "cluster_authorized_operations": cluster_authorized_operations(cluster_operations),
    }


SPECS = [ApiSpec(3, "Metadata", 0, 12, handle)]
