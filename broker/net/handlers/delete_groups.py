"""DeleteGroups (42): remove empty groups and their committed offsets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


async def handle(context: Context, request: Request) -> dict:
    results = context.groups.delete(list(request.body.groups_names))
    return {
        "throttle_time": 0,
        "results": [
            {"group_id": group_id, "error_code": error} for group_id, error in results.items()
        ],
    }


SPECS = [ApiSpec(42, "DeleteGroups", 0, 2, handle)]
