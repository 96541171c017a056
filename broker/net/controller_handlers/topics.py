"""CreateTopics (19), DeleteTopics (20) and CreatePartitions (37) on the controller: what a
broker forwards (KIP-590) and what an admin client may send the controller directly.

Answered as Kafka's ControllerApis answers them: each topic on its own, a name or id asked
for twice refused for every copy (INVALID_REQUEST), and NOT_CONTROLLER for every topic when
this node is not the active controller.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.controller.quorum import NotControllerError
from broker.controller.topics import CreatedTopic, NewTopic, PartitionsIncrease
from broker.net.controller_handlers.active import active_controller
from broker.net.handlers.describe_configs import topic_config_entries
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.controller_handlers import ControllerContext


async def create_topics(context: ControllerContext, request: Request) -> dict:
    body = request.body
    wanted = []
    for topic in body.topics:
        new = NewTopic(
            topic.name,
            topic.num_partitions,
            topic.replication_factor,
            configs={entry.name: entry.value for entry in topic.configs},
        )
        if topic.assignments:
            assignments = {a.partition_index: tuple(a.broker_ids) for a in topic.assignments}
            new = replace(new, assignments=assignments)
        wanted.append(new)
    try:
        controller = active_controller(context)
        created = await controller.create_topics(wanted, validate_only=body.validate_only)
    except NotControllerError as error:
        created = [CreatedTopic(t.name, ErrorCode.not_controller, str(error)) for t in wanted]
    image = context.controller.image if context.controller is not None else None
    topics = []
    for new, answer in zip(wanted, created, strict=True):
        done = answer.error_code == ErrorCode.none and not body.validate_only
        topics.append(
            {
                "name": answer.name,
                "topic_id": answer.topic_id if done else None,
                "error_code": answer.error_code,
                "error_message": answer.message,
                "num_partitions": answer.num_partitions,
                "replication_factor": answer.replication_factor,
                # v5+ has no default: without it the answer cannot be encoded
                "configs": topic_config_entries(context, new.configs, image=image) if done else [],
            }
        )
    return {"throttle_time": 0, "topics": topics}


async def delete_topics(context: ControllerContext, request: Request) -> dict:
    body = request.body
    if hasattr(body, "topic_names"):  # v1-5
        asked: list[tuple[str | None, uuid.UUID | None]] = [(n, None) for n in body.topic_names]
    else:
        asked = [(t.name, t.topic_id) for t in body.topics]
    # An entry naming both a name and an id is refused alone; it makes no other a duplicate.
    names = Counter(name for name, topic_id in asked if topic_id is None)
    ids = Counter(topic_id for name, topic_id in asked if name is None)
    answers: list[dict | None] = []
    to_delete: list[int] = []  # indexes into asked
    for index, (name, topic_id) in enumerate(asked):
        refusal = _delete_refusal(context, request.version, name, topic_id, names, ids)
        if refusal is None:
            to_delete.append(index)
            answers.append(None)
        else:
            code, message = refusal
            answers.append(_deleted(name, topic_id, code, message))
    # The controller answers the names first, then the ids, each in the order given.
    by_name = [i for i in to_delete if asked[i][0] is not None]
    by_id = [i for i in to_delete if asked[i][0] is None]
    try:
        deleted = await active_controller(context).delete_topics(
            [asked[i][0] for i in by_name], [asked[i][1] for i in by_id]
        )
    except NotControllerError as error:
        for index in to_delete:
            name, topic_id = asked[index]
            answers[index] = _deleted(name, topic_id, ErrorCode.not_controller, str(error))
    else:
        for index, result in zip(by_name + by_id, deleted, strict=True):
            answers[index] = _deleted(
                result.name, result.topic_id, result.error_code, result.message
            )
    return {"throttle_time": 0, "responses": answers}


def _delete_refusal(
    context: ControllerContext,
    version: int,
    name: str | None,
    topic_id: uuid.UUID | None,
    names: Counter,
    ids: Counter,
) -> tuple[ErrorCode, str] | None:
    if name is not None and topic_id is not None:
        return ErrorCode.invalid_request, "You may not specify both topic name and topic id."
    if name is None and topic_id is None:
        return ErrorCode.invalid_request, "Neither topic name nor id were specified."
    if name is not None and names[name] > 1:
        return ErrorCode.invalid_request, "Duplicate topic name."
    if topic_id is not None and ids[topic_id] > 1:
        return ErrorCode.invalid_request, "Duplicate topic id."
    if not context.config.delete_topic_enable:
        # Kafka's answer: before v3 the request is invalid; from v3 on it says why.
        if version < 3:
            return ErrorCode.invalid_request, "Topic deletion is disabled."
        return ErrorCode.topic_deletion_disabled, "Topic deletion is disabled."
    return None


def _deleted(
    name: str | None, topic_id: uuid.UUID | None, code: ErrorCode, message: str | None
) -> dict:
    return {"name": name, "topic_id": topic_id, "error_code": code, "error_message": message}


async def create_partitions(context: ControllerContext, request: Request) -> dict:
    body = request.body
    increases = [
        PartitionsIncrease(
            topic.name,
            topic.count,
            None if topic.assignments is None else [tuple(a.broker_ids) for a in topic.assignments],
        )
        for topic in body.topics
    ]
    try:
        results = [
            (r.name, r.error_code, r.message)
            for r in await active_controller(context).create_partitions(
                increases, validate_only=body.validate_only
            )
        ]
    except NotControllerError as error:
        results = [(i.name, ErrorCode.not_controller, str(error)) for i in increases]
    return {
        "throttle_time": 0,
        "results": [
            {"name": name, "error_code": code, "error_message": message}
            for name, code, message in results
        ],
    }


SPECS = [
    ApiSpec(19, "CreateTopics", 2, 7, create_topics),
    ApiSpec(20, "DeleteTopics", 1, 6, delete_topics),
    ApiSpec(37, "CreatePartitions", 0, 3, create_partitions),
]
