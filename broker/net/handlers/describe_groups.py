"""DescribeGroups (15): state, protocol and members with their subscription and assignment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


async def handle(context: Context, request: Request) -> dict:
    groups = []
    for group_id in request.body.groups:
        found = context.groups.describe(group_id)
        groups.append(
            {
                "error_code": found.error_code,
                "group_id": found.group_id,
                "group_state": found.state_name,
                "protocol_type": found.protocol_type,
                "protocol_data": found.protocol_name or "",
                "members": [
                    {
                        "member_id": m.member_id,
                        "group_instance_id": m.group_instance_id,
                        "client_id": m.client_id,
                        "client_host": m.client_host,
                        "member_metadata": m.metadata,
                        "member_assignment": m.assignment,
                    }
                    for m in found.members
                ],
            }
        )
    return {"throttle_time": 0, "groups": groups}


SPECS = [ApiSpec(15, "DescribeGroups", 0, 5, handle)]
