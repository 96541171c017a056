"""The CONTROLLER listener's handlers: one module per Kafka API a controller serves.

``CONTROLLER_REGISTRY`` lists them, as ``broker.net.handlers.REGISTRY`` lists the client APIs.
Each handler takes a :class:`ControllerContext` and a decoded request, asks the
:class:`~broker.controller.quorum.QuorumController` and answers with Kafka's error codes; a
node that is not the active controller (or runs no controller) answers NOT_CONTROLLER, and
the sender retries against the quorum's leader.

(This minimal package is the quorum controller's part; the Raft APIs and the package's final
shape come with the Raft runtime.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.clock import Clock
from broker.config import BrokerConfig
from broker.controller.quorum import QuorumController
from broker.net.controller_handlers import brokers, partitions, producer_ids, topics
from broker.net.registry import Registry


@dataclass(frozen=True)
class ControllerContext:
    config: BrokerConfig
    clock: Clock
    raft: Any  # broker.raft.runtime.RaftRuntime
    controller: QuorumController | None  # None on a node without the controller role
    node_id: int


CONTROLLER_REGISTRY = Registry(
    [*brokers.SPECS, *partitions.SPECS, *producer_ids.SPECS, *topics.SPECS]
)
