"""BrokerRegistration (62) and BrokerHeartbeat (63): brokers join and keep their lease."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.controller.brokers import BrokerHeartbeatRequest, BrokerRegistrationRequest
from broker.controller.quorum import NotControllerError
from broker.metadata.records import Endpoint
from broker.net.controller_handlers.active import active_controller
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.controller_handlers import ControllerContext


async def broker_registration(context: ControllerContext, request: Request) -> dict:
    body = request.body
    registration = BrokerRegistrationRequest(
        broker_id=body.broker_id,
        incarnation_id=body.incarnation_id or uuid.UUID(int=0),
        listeners=tuple(
            Endpoint(listener.name, listener.host, listener.port, listener.security_protocol)
            for listener in body.listeners
        ),
        rack=body.rack,
    )
    try:
        answer = await active_controller(context).register_broker(registration)
    except NotControllerError:
        return {"throttle_time": 0, "error_code": ErrorCode.not_controller}
    return {
        "throttle_time": 0,
        "error_code": answer.error_code,
        "broker_epoch": answer.broker_epoch,
    }


async def broker_heartbeat(context: ControllerContext, request: Request) -> dict:
    body = request.body
    heartbeat = BrokerHeartbeatRequest(
        broker_id=body.broker_id,
        broker_epoch=body.broker_epoch,
        current_metadata_offset=body.current_metadata_offset,
        want_fence=body.want_fence,
        want_shut_down=body.want_shut_down,
    )
    try:
        answer = await active_controller(context).heartbeat(heartbeat)
    except NotControllerError:
        # As Kafka answers a heartbeat it cannot take: fenced, not caught up, carry on.
        return {
            "throttle_time": 0,
            "error_code": ErrorCode.not_controller,
            "is_caught_up": False,
            "is_fenced": True,
            "should_shut_down": False,
        }
    return {
        "throttle_time": 0,
        "error_code": answer.error_code,
        "is_caught_up": answer.is_caught_up,
        "is_fenced": answer.is_fenced,
        "should_shut_down": answer.should_shut_down,
    }


SPECS = [
    ApiSpec(62, "BrokerRegistration", 0, 4, broker_registration),
    ApiSpec(63, "BrokerHeartbeat", 0, 2, broker_heartbeat),
]
