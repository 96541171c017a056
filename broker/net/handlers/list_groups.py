"""ListGroups (16): every group this broker coordinates, optionally filtered by state (v4+);
COORDINATOR_LOAD_IN_PROGRESS while some of them are still loading."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


async def handle(context: Context, request: Request) -> dict:
    states = getattr(request.body, "states_filter", ())
    types = getattr(request.body, "types_filter", ())
    error, listed = context.groups.list_groups(set(states) if states else None)
    return {
        "throttle_time": 0,
        "error_code": error,
        "groups": [
            {
                "group_id": g.group_id,
                "protocol_type": g.protocol_type,
                "group_state": g.state_name,
                "group_type": g.group_type,
            }
            for g in listed
            if not types or g.group_type in types
        ],
    }


SPECS = [ApiSpec(16, "ListGroups", 0, 5, handle)]
