"""CreateTopics (19), DeleteTopics (20) and CreatePartitions (37).

Each awaits the controller's file work, which runs in a worker thread: other connections are
served meanwhile.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.controller.topics import NewTopic, PartitionsIncrease
from broker.metadata.topics import TopicError
from broker.net.handlers.describe_configs import topic_config_entries
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context

log = logging.getLogger("broker.net")


async def _create_one(context: Context, wanted, validate_only: bool) -> dict:
    config = context.config
    overrides = {entry.name: entry.value for entry in wanted.configs}
    new = NewTopic(wanted.name, wanted.num_partitions, wanted.replication_factor, configs=overrides)
    if wanted.assignments:
        assignments = {a.partition_index: a.broker_ids for a in wanted.assignments}
        new = replace(new, assignments=assignments)
    else:  # the broker's defaults, as Kafka's CreateTopics fills them in
        if new.num_partitions == -1:
            new = replace(new, num_partitions=config.num_partitions)
        if new.replication_factor == -1:
            new = replace(new, replication_factor=config.default_replication_factor)
    try:
        created = await context.controller.create_topic(new, validate_only=validate_only)
    except TopicError as exc:
        return _refused(wanted.name, exc)
    if not validate_only:
        log.info("created topic %r with %d partitions", wanted.name, created.num_partitions)
    return {
        "name": wanted.name,
        "topic_id": None if validate_only else created.topic_id,
        "error_code": ErrorCode.none,
        "error_message": None,
        "num_partitions": created.num_partitions,
        "replication_factor": created.replication_factor,
        "configs": []
        if validate_only
        else topic_config_entries(context, overrides, image=context.metadata.image),
    }


def _refused(name: str, exc: TopicError) -> dict:
    return {
        "name": name,
        "topic_id": None,
        "error_code": exc.code,
        "error_message": str(exc),
        "num_partitions": -1,
        "replication_factor": -1,
        "configs": [],  # v5+ has no default: without it the answer cannot be encoded
    }


async def create_topics(context: Context, request: Request) -> dict:
    body = request.body
    twice = _duplicates(wanted.name for wanted in body.topics)
    topics = []
    for wanted in body.topics:
        if wanted.name in twice:
            topics.append(_refused(wanted.name, TopicError(*DUPLICATE)))
        else:
            topics.append(await _create_one(context, wanted, body.validate_only))
    return {"throttle_time": 0, "topics": topics}


# As Kafka's ControllerApis answers a name asked for twice in one request: neither is done.
DUPLICATE = (ErrorCode.invalid_request, "Duplicate topic name.")


def _duplicates(names: Iterable[str]) -> set[str]:
    return {name for name, count in Counter(names).items() if count > 1}


async def _delete_one(context: Context, name: str | None, topic_id: uuid.UUID | None) -> dict:
    """Delete a topic named by name or by id (kio reads the all-zero id, "no id", as None)."""
    controller = context.controller
    answer = {"name": name, "topic_id": topic_id, "error_message": None}
    if name is not None and topic_id is not None:
        return answer | {
            "error_code": ErrorCode.invalid_request,
            "error_message": "You may not specify both topic name and topic id.",
        }
    if name is None and topic_id is None:
        return answer | {
            "error_code": ErrorCode.invalid_request,
            "error_message": "Neither topic name nor id were specified.",
        }
    if name is None:
        found = context.metadata.image.topics_by_id.get(topic_id)
        if found is None:
            return answer | {
                "error_code": ErrorCode.unknown_topic_id,
                "error_message": "unknown topic id",
            }
        name = answer["name"] = found.name
    if not context.config.delete_topic_enable:
        return answer | {
            "error_code": ErrorCode.topic_deletion_disabled,
            "error_message": "delete.topic.enable is false",
        }
    try:
        deleted = await controller.delete_topic(name)
    except TopicError as exc:
        return answer | {"error_code": exc.code, "error_message": str(exc)}
    log.info("deleted topic %r", name)
    return answer | {"topic_id": deleted.topic_id, "error_code": ErrorCode.none}


async def delete_topics(context: Context, request: Request) -> dict:
    body = request.body
    if hasattr(body, "topic_names"):
        wanted = [(name, None) for name in body.topic_names]
    else:
        wanted = [(t.name, t.topic_id) for t in body.topics]
    return {
        "throttle_time": 0,
        "responses": [await _delete_one(context, name, topic_id) for name, topic_id in wanted],
    }


async def create_partitions(context: Context, request: Request) -> dict:
    body = request.body
    results = []
    twice = _duplicates(wanted.name for wanted in body.topics)
    for wanted in body.topics:
        if wanted.name in twice:
            code, message = DUPLICATE
            results.append({"name": wanted.name, "error_code": code, "error_message": message})
            continue
        try:
            assignments = wanted.assignments
            increase = PartitionsIncrease(
                wanted.name,
                wanted.count,
                None if assignments is None else [tuple(a.broker_ids) for a in assignments],
            )
            await context.controller.add_partitions(increase, validate_only=body.validate_only)
        except TopicError as exc:
            results.append({"name": wanted.name, "error_code": exc.code, "error_message": str(exc)})
            continue
        if not body.validate_only:
            log.info("topic %r now has %d partitions", wanted.name, wanted.count)
        results.append({"name": wanted.name, "error_code": ErrorCode.none, "error_message": None})
    return {"throttle_time": 0, "results": results}


SPECS = [
    ApiSpec(19, "CreateTopics", 2, 7, create_topics),
    ApiSpec(20, "DeleteTopics", 1, 6, delete_topics),
    ApiSpec(37, "CreatePartitions", 0, 3, create_partitions),
]
