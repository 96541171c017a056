"""What every handler receives: settings, cluster state, the group coordinator, the registry."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from broker.cluster.metadata import ClusterMetadata
from broker.config import BrokerConfig
from broker.groups.coordinator import GroupCoordinator
from broker.net.registry import Registry


@dataclass
class Context:
    config: BrokerConfig
    cluster: ClusterMetadata
    registry: Registry
    groups: GroupCoordinator
    port: int = 0  # the bound port, known once the server listens (config.port may be 0)
    # Encoded Metadata bodies by (version, topics asked, ..., cluster generation): 100 clients
    # of a 1,000-partition topic would otherwise rebuild the same answer over and over.
    metadata_answers: dict[tuple, bytes] = field(default_factory=dict)

    @staticmethod
    def now_ms() -> int:
        return time.time_ns() // 1_000_000
