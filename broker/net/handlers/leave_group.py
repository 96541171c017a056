"""LeaveGroup (13): one member (v0-2) or several (v3+) leave; the rest rebalance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    if request.version < 3:
        leaving = [(body.member_id, None)]
    else:
        leaving = [(m.member_id, m.group_instance_id) for m in body.members]
    result = context.groups.leave(body.group_id, leaving)
    if request.version < 3 and result.members and result.members[0][2]:
        return {"throttle_time": 0, "error_code": result.members[0][2]}
    return {
        "throttle_time": 0,
        "error_code": result.error_code,
        "members": [
            {"member_id": member_id, "group_instance_id": instance_id, "error_code": error}
            for member_id, instance_id, error in result.members
        ],
    }


SPECS = [ApiSpec(13, "LeaveGroup", 0, 5, handle)]
