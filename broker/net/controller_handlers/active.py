"""The one question every controller handler asks first: which controller acts here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.controller.quorum import NotControllerError, QuorumController

if TYPE_CHECKING:
    from broker.net.controller_handlers import ControllerContext


def active_controller(context: ControllerContext) -> QuorumController:
    """This node's controller. Raises NotControllerError on a node without one; the
    controller itself raises it for each request while it is not active."""
    if context.controller is None:
        raise NotControllerError(f"node {context.node_id} has no controller role")
    return context.controller
