"""The CONTROLLER listener: what a node serves to the other members of the quorum and to the
brokers that follow the metadata log.

``CONTROLLER_REGISTRY`` lists the served APIs: ApiVersions, and the quorum's own (``quorum``:
Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch on ``__cluster_metadata``, DescribeQuorum); the
controller's APIs join it as they are built. Handlers receive a ``ControllerContext``, which
also gives ``broker.net.server.Server`` and ``Connection`` what they read of any context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.clock import Clock
from broker.config import BrokerConfig
from broker.net.controller_handlers import api_versions, quorum
from broker.net.registry import Registry
from broker.raft.runtime import RaftRuntime

CONTROLLER_REGISTRY = Registry([*api_versions.SPECS, *quorum.SPECS])


@dataclass(frozen=True)
class ControllerContext:
    config: BrokerConfig
    clock: Clock
    raft: RaftRuntime
    controller: Any | None  # the QuorumController on a node with the controller role
    node_id: int
    api_keys: Sequence[Mapping[str, int]] = field(
        default_factory=lambda: CONTROLLER_REGISTRY.advertised()
    )
    listener_name: str = "CONTROLLER"

    def now_ms(self) -> int:
        return self.clock.now_ms()
