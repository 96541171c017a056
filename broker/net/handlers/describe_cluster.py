"""DescribeCluster (60): the cluster id, the active controller and the brokers, as the
Admin clients' ``describe_cluster()`` asks for them.

Answered from the image as Metadata is (the same brokers, the same cluster authorized
operations). This is a broker listener, so it describes brokers (endpoint type 1); asked for
controllers (v1+ ``endpoint_type`` 2) it answers UNSUPPORTED_ENDPOINT_TYPE, as Kafka's
brokers do. v2 may ask for fenced brokers too, each answered with ``is_fenced``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.handlers.metadata import broker_endpoints, cluster_authorized_operations
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context

BROKER_ENDPOINT, CONTROLLER_ENDPOINT = 1, 2  # Kafka's EndpointType
_ENDPOINT_NAMES = {BROKER_ENDPOINT: "BROKER", CONTROLLER_ENDPOINT: "CONTROLLER"}


def wrong_endpoint(served: int, wanted: int) -> dict:
    """The answer of a listener serving endpoint type ``served`` to a request for another."""
    return {
        "throttle_time": 0,
        "error_code": ErrorCode.unsupported_endpoint_type,
        "error_message": f"The request was sent to an endpoint of type {_ENDPOINT_NAMES[served]}, "
        f"but it asked for endpoint type {wanted}",
        "endpoint_type": served,
        "cluster_id": "",
        "brokers": [],
    }


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    wanted = getattr(body, "endpoint_type", BROKER_ENDPOINT)
    if wanted != BROKER_ENDPOINT:
        return wrong_endpoint(BROKER_ENDPOINT, wanted)
    include_fenced = getattr(body, "include_fenced_brokers", False)
    brokers = broker_endpoints(
        context.metadata.image, context.listener.name, include_fenced=include_fenced
    )
    return {
        "throttle_time": 0,
        "error_code": ErrorCode.none,
        "endpoint_type": BROKER_ENDPOINT,
        "cluster_id": context.metadata.cluster_id,
        "controller_id": context.controller.controller_id,
        "brokers": [
            {
                "broker_id": broker.id,
                "host": endpoint.host,
                "port": endpoint.port,
                "rack": broker.rack,
                "is_fenced": broker.fenced,
            }
            for broker, endpoint in brokers
        ],
        "cluster_authorized_operations": cluster_authorized_operations(
            body.include_cluster_authorized_operations
        ),
    }


SPECS = [ApiSpec(60, "DescribeCluster", 0, 2, handle)]
