"""InitProducerId (22): producer ids for idempotent producers.

Ids are unique across restarts: the node hands them out from a block the controller
allocated and stored in the metadata image (a restart starts from the next block). A
producer that sends its current id and epoch (v3+, KIP-360) gets the same id with the next
epoch.
Transactions are not supported: a transactional id is refused.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context

log = logging.getLogger("broker.net")
MAX_EPOCH = 32767


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    if body.transactional_id is not None:
        log.info(
            "refusing transactional id %r: transactions are not supported", body.transactional_id
        )
        return {
            "throttle_time": 0,
            "producer_id": -1,
            "producer_epoch": -1,
            "error_code": ErrorCode.transactional_id_authorization_failed,
        }
    producer_id = getattr(body, "producer_id", -1)
    epoch = getattr(body, "producer_epoch", -1)
    error = ErrorCode.none
    if producer_id >= 0 and 0 <= epoch < MAX_EPOCH - 1:
        epoch += 1
    else:
        error, producer_id = await context.controller.allocate_producer_id()
        epoch = 0 if error == ErrorCode.none else -1
    return {
        "throttle_time": 0,
        "error_code": error,
        "producer_id": producer_id,
        "producer_epoch": epoch,
    }


SPECS = [ApiSpec(22, "InitProducerId", 0, 5, handle)]
