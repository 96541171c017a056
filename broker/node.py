"""The composition root: builds storage, cluster state and the server from one config.

``Node.start()`` opens the data directory (recovering after an unclean stop), binds the
listener and starts the background duties (retention, flush, checkpoints); ``Node.stop()``
closes connections, flushes every log and writes Kafka's clean-shutdown marker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from broker.cluster.metadata import OFFSETS_TOPIC, ClusterMetadata
from broker.config import BrokerConfig
from broker.groups.coordinator import GroupCoordinator, GroupSettings
from broker.groups.store import OffsetStore
from broker.net.context import Context
from broker.net.handlers import REGISTRY
from broker.net.server import Server
from broker.storage.manager import LogManager

log = logging.getLogger("broker")


class Node:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.logs: LogManager | None = None
        self.cluster: ClusterMetadata | None = None
        self.server: Server | None = None
        self.groups: GroupCoordinator | None = None
        self._duties: list[asyncio.Task[None]] = []

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    async def start(self) -> None:
        """Open storage and listen. Raises StorageError or OSError with a clear message."""
        config = self.config
        started = time.monotonic()
        self.logs = LogManager(
            config.data_dir, producer_id_expiration_ms=config.producer_id_expiration_ms
        )
        self.cluster = ClusterMetadata(config.data_dir, self.logs, config.log_defaults)
        self.cluster.load()
        self.groups = await self._group_coordinator()
        context = Context(config, self.cluster, REGISTRY, self.groups)
        self.server = Server(context)
        await self.server.start()
        context.port = self.server.port
        partitions = sum(len(t.partitions) for t in self.cluster.topics.values())
        log.info(
            "loaded %d topics, %d partitions in %.2f s",
            len(self.cluster.topics),
            partitions,
            time.monotonic() - started,
        )
        cluster, logs = self.cluster, self.logs
        self._every(config.retention_check_interval_ms, lambda: logs.retention_pass(_now_ms()))
        self._every(config.flush_scheduler_interval_ms, lambda: logs.flush_pass(_now_ms()))
        self._every(
            config.checkpoint_interval_ms, lambda: logs.checkpoint(cluster.high_watermarks())
        )

    async def _group_coordinator(self) -> GroupCoordinator:
        """Committed offsets and group state live in ``__consumer_offsets``, as in Kafka."""
        config, cluster = self.config, self.cluster
        topic = cluster.topics.get(OFFSETS_TOPIC) or await cluster.create_topic(
            OFFSETS_TOPIC,
            config.offsets_topic_num_partitions,
            {"cleanup.policy": "compact", "segment.bytes": str(100 << 20)},
        )
        settings = GroupSettings(
            initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=config.group_min_session_timeout_ms,
            max_session_timeout_ms=config.group_max_session_timeout_ms,
            offset_metadata_max_bytes=config.offset_metadata_max_bytes,
        )
        coordinator = GroupCoordinator(OffsetStore(topic.partitions, _now_ms), settings)
        coordinator.load()

        def drop_offsets_of_deleted_topics() -> None:
            coordinator.remove_offsets(lambda name: name in cluster.topics)

        # At start too: a crash between a topic's deletion and this left offsets behind.
        drop_offsets_of_deleted_topics()
        cluster.on_topic_deleted = drop_offsets_of_deleted_topics
        return coordinator

    def _every(self, interval_ms: int, duty: Callable[[], object]) -> None:
        if interval_ms <= 0:  # as Kafka's scheduler: no period, no repetition
            return
        self._duties.append(asyncio.get_running_loop().create_task(_repeat(interval_ms, duty)))

    async def stop(self) -> None:
        for task in self._duties:
            task.cancel()
        if self.server is not None:
            await self.server.stop()
        if self.groups is not None:
            self.groups.close()
        if self.logs is not None and self.cluster is not None:
            self.logs.close(self.cluster.high_watermarks())
        log.info("stopped cleanly")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _repeat(interval_ms: int, duty: Callable[[], object]) -> None:
    while True:
        await asyncio.sleep(interval_ms / 1000)
        try:
            duty()
        except Exception:
            log.exception("background duty failed; it will run again")
