"""Heartbeat (12): keeps a member's session alive and tells it when to rejoin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    error = context.groups.heartbeat(
        body.group_id, body.member_id, body.generation_id, getattr(body, "group_instance_id", None)
    )
    return {"throttle_time": 0, "error_code": error}


SPECS = [ApiSpec(12, "Heartbeat", 0, 4, handle)]
