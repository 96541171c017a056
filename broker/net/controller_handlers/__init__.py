"""The CONTROLLER listener's handlers: what voters, observers and brokers ask a controller node.

``CONTROLLER_REGISTRY`` lists them (the quorum's Raft APIs and the controller's APIs join it
as they are written); ``ControllerContext`` is what each receives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broker.clock import Clock
from broker.config import BrokerConfig
from broker.net.handlers import api_versions
from broker.net.registry import Registry


@dataclass(frozen=True)
class ControllerContext:
    config: BrokerConfig
    clock: Clock
    raft: Any  # broker.raft.runtime.RaftRuntime
    controller: Any  # broker.controller.quorum.QuorumController, None on a pure broker
    node_id: int
    api_keys: Sequence[Mapping[str, int]]  # the ApiVersions list, from CONTROLLER_REGISTRY


CONTROLLER_REGISTRY = Registry([*api_versions.SPECS])
