"""SyncGroup (14): the leader hands out assignments; every member receives its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    result = await context.groups.sync(
        group_id=body.group_id,
        member_id=body.member_id,
        generation_id=body.generation_id,
        group_instance_id=getattr(body, "group_instance_id", None),
        protocol_type=getattr(body, "protocol_type", None),
        protocol_name=getattr(body, "protocol_name", None),
        assignments={a.member_id: a.assignment for a in body.assignments},
    )
    return {
        "throttle_time": 0,
        "error_code": result.error_code,
        "protocol_type": result.protocol_type,
        "protocol_name": result.protocol_name,
        "assignment": result.assignment,
    }


SPECS = [ApiSpec(14, "SyncGroup", 0, 5, handle)]
