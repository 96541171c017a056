"""FindCoordinator (10): a group's coordinator is the leader of its ``__consumer_offsets``
partition in the metadata image, at its endpoint on the listener asked (in a cluster, maybe
another broker; on one node, this one), in the single and batched forms.

Transactions are not supported. A transaction coordinator lookup is answered with
TRANSACTIONAL_ID_AUTHORIZATION_FAILED and a message saying why: it is the one answer that
librdkafka, kafka-python, aiokafka and kafkajs all treat as final (librdkafka treats only it
and CLUSTER_AUTHORIZATION_FAILED so; a retriable code such as COORDINATOR_NOT_AVAILABLE makes
every client retry until its own timeout). librdkafka shows the message to the application.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.metadata.topics import OFFSETS_TOPIC
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context

log = logging.getLogger("broker.net")
GROUP = 0
NO_TRANSACTIONS = "transactions are not supported by this broker"


def _coordinator(context: Context, key: str, key_type: int) -> dict:
    if key_type != GROUP:
        log.info("refusing transaction coordinator lookup for %r: %s", key, NO_TRANSACTIONS)
        return {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": ErrorCode.transactional_id_authorization_failed,
            "error_message": NO_TRANSACTIONS,
        }
    image = context.metadata.image
    offsets = image.partition(OFFSETS_TOPIC, context.groups.partition_for(key))
    leader = None if offsets is None else image.brokers.get(offsets.leader)
    endpoint = None
    if leader is not None and not leader.fenced:
        name = context.listener.name
        endpoint = next((e for e in leader.endpoints if e.name == name), None)
    if endpoint is None:
        return {
            "key": key,
            "node_id": -1,
            "host": "",
            "port": -1,
            "error_code": ErrorCode.coordinator_not_available,
            "error_message": None,
        }
    return {
        "key": key,
        "node_id": leader.id,
        "host": endpoint.host,
        "port": endpoint.port,
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
