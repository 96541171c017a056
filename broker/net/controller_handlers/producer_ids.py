"""AllocateProducerIds (67): a broker's next block of producer ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.controller.quorum import NotControllerError
from broker.net.controller_handlers.active import active_controller
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.controller_handlers import ControllerContext


async def allocate_producer_ids(context: ControllerContext, request: Request) -> dict:
    body = request.body
    try:
        block = await active_controller(context).allocate_producer_ids(
            body.broker_id, body.broker_epoch
        )
    except NotControllerError:
        code, start, length = ErrorCode.not_controller, -1, 0
    else:
        code, start, length = block.error_code, block.producer_id_start, block.producer_id_len
    return {
        "throttle_time": 0,
        "error_code": code,
        "producer_id_start": start,
        "producer_id_len": length,
    }


SPECS = [ApiSpec(67, "AllocateProducerIds", 0, 0, allocate_producer_ids)]
