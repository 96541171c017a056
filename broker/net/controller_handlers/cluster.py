"""DescribeCluster (60) on the CONTROLLER listener (KIP-919), as ``kafka-metadata-quorum.sh
--bootstrap-controller`` asks it for the cluster id: the cluster id, the quorum's leader as
the controller id, and the controllers (the voters, at their CONTROLLER endpoints). Asked for
brokers (endpoint type 1, which v0 always means) it answers UNSUPPORTED_ENDPOINT_TYPE, as
Kafka's controllers do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.handlers.describe_cluster import (
    BROKER_ENDPOINT,
    CONTROLLER_ENDPOINT,
    wrong_endpoint,
)
from broker.net.handlers.metadata import cluster_authorized_operations
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.controller_handlers import ControllerContext


async def handle(context: ControllerContext, request: Request) -> dict:
    body = request.body
    wanted = getattr(body, "endpoint_type", BROKER_ENDPOINT)
    if wanted != CONTROLLER_ENDPOINT:
        return wrong_endpoint(CONTROLLER_ENDPOINT, wanted)
    raft = context.raft
    return {
        "throttle_time": 0,
        "error_code": ErrorCode.none,
        "endpoint_type": CONTROLLER_ENDPOINT,
        "cluster_id": context.cluster_id,
        "controller_id": raft.leader_id,
        "brokers": [
            {"broker_id": voter, "host": host, "port": port, "rack": None, "is_fenced": False}
            for voter, (host, port) in sorted(raft.voters.items())
        ],
        "cluster_authorized_operations": cluster_authorized_operations(
            body.include_cluster_authorized_operations
        ),
    }


SPECS = [ApiSpec(60, "DescribeCluster", 0, 2, handle)]
