"""JoinGroup (11): a member joins (or rejoins) a group and waits for the rebalance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request, millis

if TYPE_CHECKING:
    from broker.net.context import Context

MEMBER_ID_REQUIRED_FROM = 4  # KIP-394
SKIP_ASSIGNMENT_FROM = 9  # KIP-814


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    session_timeout = millis(body.session_timeout)
    rebalance = getattr(body, "rebalance_timeout", None)
    result = await context.groups.join(
        group_id=body.group_id,
        member_id=body.member_id,
        group_instance_id=getattr(body, "group_instance_id", None),
        client_id=request.client_id or "",
        client_host=request.client_host,
        protocol_type=body.protocol_type,
        protocols=[(p.name, p.metadata) for p in body.protocols],
        session_timeout_ms=session_timeout,
        rebalance_timeout_ms=millis(rebalance) if rebalance is not None else session_timeout,
        require_known_member_id=request.version >= MEMBER_ID_REQUIRED_FROM,
        reason=getattr(body, "reason", None),
        supports_skip_assignment=request.version >= SKIP_ASSIGNMENT_FROM,
    )
    protocol_name = result.protocol_name
    if protocol_name is None and request.version < 7:
        protocol_name = ""  # non-nullable before v7 (G5)
    return {
        "throttle_time": 0,
        "error_code": result.error_code,
        "generation_id": result.generation_id,
        "protocol_type": result.protocol_type,
        "protocol_name": protocol_name,
        "leader": result.leader,
        "skip_assignment": result.skip_assignment,
        "member_id": result.member_id,
        "members": [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "metadata": m.metadata,
            }
            for m in result.members
        ],
    }


SPECS = [ApiSpec(11, "JoinGroup", 0, 9, handle)]
