"""FindCoordinator (10): this broker coordinates every group (single and batched forms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context

GROUP = 0


def _coordinator(context: Context, key: str, key_type: int) -> dict:
    if key_type != GROUP:
        return {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": ErrorCode.coordinator_not_available,
            "error_message": "transactions are not supported",
        }
    return {
        "key": key,
        "node_id": context.config.node_id,
        "host": context.config.advertised,
        "port": context.port,
        "error_code": ErrorCode.none,
        "error_message": None,
    }


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    key_type = getattr(body, "key_type", GROUP)
    if request.version >= 4:  # batched: coordinator_keys in, coordinators out
        return {
            "throttle_time": 0,
            "coordinators": [_coordinator(context, key, key_type) for key in body.coordinator_keys],
        }
    answer = _coordinator(context, body.key, key_type)
    return {"throttle_time": 0, **answer}


SPECS = [ApiSpec(10, "FindCoordinator", 0, 6, handle)]
