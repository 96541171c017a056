"""The CONTROLLER listener: what a node serves to the other members of the quorum and to the
brokers that follow the metadata log.

``CONTROLLER_REGISTRY`` lists the served APIs: ApiVersions, DescribeCluster for the controllers
(``cluster``, KIP-919), the quorum's own (``quorum``: Vote, BeginQuorumEpoch, EndQuorumEpoch,
Fetch and FetchSnapshot on ``__cluster_metadata``, DescribeQuorum) and the controller's
(``brokers``, ``configs``, ``partitions``, ``producer_ids``, ``topics``: each asks the
:class:`~broker.controller.quorum.QuorumController` and answers NOT_CONTROLLER when this node
is not the active controller, so the sender retries against the quorum's leader). Handlers
receive a ``ControllerContext``, which also gives ``broker.net.server.Server`` and
``Connection`` what they read of any context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from broker.clock import Clock
from broker.config import BrokerConfig
from broker.controller.quorum import QuorumController
from broker.net.controller_handlers import (
    api_versions,
    brokers,
    cluster,
    configs,
    partitions,
    producer_ids,
    quorum,
    topics,
)
from broker.net.registry import Registry
from broker.raft.runtime import RaftRuntime

CONTROLLER_REGISTRY = Registry(
    [
        *api_versions.SPECS,
        *cluster.SPECS,
        *quorum.SPECS,
        *brokers.SPECS,
        *partitions.SPECS,
        *producer_ids.SPECS,
        *topics.SPECS,
        *configs.SPECS,
    ]
)


@dataclass(frozen=True)
class ControllerContext:
    config: BrokerConfig
    clock: Clock
    raft: RaftRuntime
    controller: QuorumController | None  # None on a node without the controller role
    node_id: int
    api_keys: Sequence[Mapping[str, int]] = field(
        default_factory=lambda: CONTROLLER_REGISTRY.advertised()
    )
    listener_name: str = "CONTROLLER"
    cluster_id: str = ""

    def now_ms(self) -> int:
        return self.clock.now_ms()
