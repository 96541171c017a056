"""What every handler receives: typed dependencies, all given at construction.

Nothing here is replaced after the context is built. The one value known only once the
server listens, the bound port, lives in :class:`BoundAddress`, which the server fills in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from broker.clock import Clock
from broker.config import BrokerConfig
from broker.controller.api import ControllerApi
from broker.groups.routing import GroupCoordinators
from broker.metadata.cache import MetadataCache
from broker.net.fetch_sessions import FetchSessionCache
from broker.replica.manager import ReplicaManager


class ListenerContext(Protocol):
    """What a server and its connections read of the context they hand their handlers: the
    client listener's :class:`Context`, or the CONTROLLER listener's ``ControllerContext``
    (one ``Server`` per listener)."""

    @property
    def config(self) -> BrokerConfig: ...

    @property
    def api_keys(self) -> Sequence[Mapping[str, int]]: ...


@dataclass
class BoundAddress:
    """The client listener: its name (the endpoint Metadata and DescribeCluster answer with)
    and where it listens; the server sets ``port`` once bound (the configured port may be 0)."""

    name: str = "PLAINTEXT"
    port: int = 0


@dataclass(frozen=True)
class Context:
    config: BrokerConfig
    clock: Clock
    metadata: MetadataCache  # what Metadata, FindCoordinator and DescribeConfigs answer from
    replicas: ReplicaManager  # Produce, Fetch, ListOffsets and OffsetForLeaderEpoch go here
    controller: ControllerApi  # topic changes and producer ids (local or forwarded)
    groups: GroupCoordinators
    api_keys: Sequence[Mapping[str, int]]  # the ApiVersions list, from the handler registry
    listener: BoundAddress = field(default_factory=BoundAddress)
    # Encoded Metadata bodies by (version, topics asked, ..., metadata generation): 100
    # clients of a 1,000-partition topic would otherwise rebuild the same answer over and over.
    metadata_answers: dict[tuple, bytes] = field(default_factory=dict)
    # Fetch sessions (KIP-227), as many as max.incremental.fetch.session.cache.slots.
    fetch_sessions: FetchSessionCache = field(init=False)

    def __post_init__(self) -> None:
        sessions = FetchSessionCache(self.config.fetch_session_cache_slots, self.clock.now_ms)
        object.__setattr__(self, "fetch_sessions", sessions)  # built from config, once

    @property
    def port(self) -> int:
        return self.listener.port

    def now_ms(self) -> int:
        return self.clock.now_ms()
