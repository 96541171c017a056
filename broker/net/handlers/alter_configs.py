"""AlterConfigs (33) and IncrementalAlterConfigs (44): change a topic's or the brokers'
dynamic configs.

As Kafka's broker does (ConfigAdminManager.preprocess), a BROKER resource naming a broker
must name this one (the admin client sends each broker its own); the rest goes to the
controller (this node's own, or forwarded to the active one in a cluster), which decides as
``broker.controller.configs`` says. Every resource is answered, in the order asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.controller.configs import ConfigAnswer, ConfigChange, ConfigOp, OpType
from broker.metadata.records import ConfigResourceType
from broker.metadata.topics import TopicError
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


def config_changes(body: Any, *, incremental: bool) -> list[ConfigChange]:
    """The resources of an (Incremental)AlterConfigs request as controller changes."""
    return [
        ConfigChange(
            resource.resource_type,
            resource.resource_name,
            tuple(
                ConfigOp(
                    entry.name,
                    entry.config_operation if incremental else OpType.SET,
                    entry.value,
                )
                for entry in resource.configs
            ),
            replace=not incremental,
        )
        for resource in body.resources
    ]


def config_responses(answers: list[ConfigAnswer]) -> dict:
    """The response body for ``answers``, one per resource."""
    return {
        "throttle_time": 0,
        "responses": [
            {
                "error_code": answer.error_code,
                "error_message": answer.message,
                "resource_type": answer.resource_type,
                "resource_name": answer.resource_name,
            }
            for answer in answers
        ],
    }


def _other_broker(context: Context, change: ConfigChange) -> ConfigAnswer | None:
    """Kafka's answer to a BROKER resource that names a broker other than this one."""
    name = change.resource_name
    if change.resource_type != ConfigResourceType.BROKER or not name:
        return None
    node_id = context.config.node_id
    if not name.lstrip("-").isdigit():
        message = f"Node id must be an integer, but it is: {name}"
    elif int(name) != node_id:
        message = f"Unexpected broker id, expected {node_id}, but received {name}"
    else:
        return None
    return ConfigAnswer(change.resource_type, name, ErrorCode.invalid_request, message)


async def _alter(context: Context, body: Any, *, incremental: bool) -> dict:
    changes = config_changes(body, incremental=incremental)
    answers: list[ConfigAnswer | None] = [_other_broker(context, c) for c in changes]
    to_send = [change for change, answer in zip(changes, answers, strict=True) if answer is None]
    try:
        decided = iter(
            await context.controller.alter_configs(to_send, validate_only=body.validate_only)
        )
    except TopicError as error:
        decided = iter(
            ConfigAnswer(c.resource_type, c.resource_name, error.code, str(error)) for c in to_send
        )
    return config_responses([answer or next(decided) for answer in answers])


async def handle_alter(context: Context, request: Request) -> dict:
    return await _alter(context, request.body, incremental=False)


async def handle_incremental(context: Context, request: Request) -> dict:
    return await _alter(context, request.body, incremental=True)


SPECS = [
    ApiSpec(33, "AlterConfigs", 0, 2, handle_alter),
    ApiSpec(44, "IncrementalAlterConfigs", 0, 1, handle_incremental),
]
