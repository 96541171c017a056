"""AlterConfigs (33) and IncrementalAlterConfigs (44) on the controller: what a broker
forwards (KIP-590) and what an admin client may send the controller directly.

Answered per resource as ``broker.controller.configs`` decides, and NOT_CONTROLLER for every
resource when this node is not the active controller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.controller.configs import ConfigAnswer
from broker.controller.quorum import NotControllerError
from broker.net.controller_handlers.active import active_controller
from broker.net.handlers.alter_configs import config_changes, config_responses
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.controller_handlers import ControllerContext


async def _alter(context: ControllerContext, body: Any, *, incremental: bool) -> dict:
    changes = config_changes(body, incremental=incremental)
    try:
        controller = active_controller(context)
        answers = await controller.alter_configs(changes, validate_only=body.validate_only)
    except NotControllerError as error:
        answers = [
            ConfigAnswer(c.resource_type, c.resource_name, ErrorCode.not_controller, str(error))
            for c in changes
        ]
    return config_responses(answers)


async def alter_configs(context: ControllerContext, request: Request) -> dict:
    return await _alter(context, request.body, incremental=False)


async def incremental_alter_configs(context: ControllerContext, request: Request) -> dict:
    return await _alter(context, request.body, incremental=True)


SPECS = [
    ApiSpec(33, "AlterConfigs", 0, 2, alter_configs),
    ApiSpec(44, "IncrementalAlterConfigs", 0, 1, incremental_alter_configs),
]
