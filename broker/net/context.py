"""What every handler receives: the broker's settings, cluster state and API registry."""

from __future__ import annotations

import time
from dataclasses import dataclass

from broker.cluster.metadata import ClusterMetadata
from broker.config import BrokerConfig
from broker.net.registry import Registry


@dataclass
class Context:
    config: BrokerConfig
    cluster: ClusterMetadata
    registry: Registry
    port: int = 0  # the bound port, known once the server listens (config.port may be 0)

    @staticmethod
    def now_ms() -> int:
        return time.time_ns() // 1_000_000
