"""ApiVersions (18): the served APIs, generated from the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request, encode_response

if TYPE_CHECKING:
    from broker.net.context import ListenerContext

API_VERSIONS = 18


async def handle(context: ListenerContext, request: Request) -> dict:
    return {
        "error_code": ErrorCode.none,
        "api_keys": context.api_keys,
        "throttle_time": 0,
        "finalized_features_epoch": -1,
    }


def unsupported_version_response(correlation_id: int, context: ListenerContext) -> bytes:
    """Kafka's answer to an ApiVersions version it does not know: a v0 body, error 35."""
    body = {"error_code": ErrorCode.unsupported_version, "api_keys": context.api_keys}
    return encode_response(API_VERSIONS, 0, correlation_id, body)


SPECS = [ApiSpec(API_VERSIONS, "ApiVersions", 0, 4, handle)]
