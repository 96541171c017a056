"""The replica manager: this node's partitions as replicas, and the logs behind them.

Owns the ``LogManager``. Every new metadata image is turned into "become leader / become
follower / delete" changes for this node (``broker.metadata.changes``) and applied here, so
the set of replicas always matches the latest image; with a ``ReplicaFetcherManager`` (a node
in a cluster) the partitions it follows are fetched from their leaders. Handlers find a
partition's replica here and go through it; none touches a log. High watermarks are seeded
from Kafka's ``replication-offset-checkpoint`` at start and written back with the other
checkpoints.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping

from broker.metadata.changes import local_changes
from broker.metadata.image import MetadataImage, PartitionRegistration, TopicImage
from broker.metadata.topics import log_config
from broker.replica.fetcher import ReplicaFetcherManager
from broker.replica.replica import Replica, Role
from broker.storage.config import LogConfig
from broker.storage.log import PartitionLog
from broker.storage.manager import LogManager, TopicPartition


class ReplicaManager:
    def __init__(
        self,
        logs: LogManager,
        node_id: int,
        defaults: LogConfig,
        fetchers: ReplicaFetcherManager | None = None,
    ) -> None:
        self.logs = logs
        self.node_id = node_id
        self.defaults = defaults
        self.fetchers = fetchers  # None on a single node: it follows nothing
        self._topics: dict[str, dict[int, Replica]] = {}
        self._prepared: dict[TopicPartition, PartitionLog] = {}  # made, not yet in an image
        self._removed: dict[uuid.UUID, list[PartitionLog]] = {}  # out of the image, on disk

    # -- finding replicas ---------------------------------------------------------------

    def replica(self, topic: str, index: int) -> Replica | None:
        replicas = self._topics.get(topic)
        return None if replicas is None else replicas.get(index)

    def replicas_of(self, topic: str) -> Mapping[int, Replica]:
        """The topic's replicas held here, by partition index."""
        return self._topics.get(topic, {})

    def all_replicas(self) -> Iterator[Replica]:
        for replicas in self._topics.values():
            yield from replicas.values()

    def high_watermarks(self) -> dict[TopicPartition, int]:
        return {(r.topic, r.index): r.high_watermark for r in self.all_replicas()}

    # -- following the image ------------------------------------------------------------

    def load(self, image: MetadataImage, doomed: frozenset[uuid.UUID]) -> None:
        """Open the logs of ``image``'s partitions that this node is a replica of (recovering
        as needed), remove those of doomed topic ids, set strays (any other directory) aside,
        and make any log of this node's the image lists but the disk lacks."""

        def known(key: TopicPartition, topic_id: uuid.UUID) -> bool:
            topic = image.topics.get(key[0])
            if topic is None or topic.topic_id != topic_id:
                return False
            partition = topic.partitions.get(key[1])
            return partition is not None and self.node_id in partition.replicas

        self.logs.load(self._config_of(image), known=known, doomed=doomed)
        for topic, index, partition in image.all_partitions():
            if self.node_id not in partition.replicas:
                continue  # another broker's
            if self.logs.get(topic.name, index) is None:  # in the image, directory gone
                created = self.logs.create(
                    topic.name, index, topic.topic_id, self._config_of(image)(topic.name)
                )
                created.assign_epoch(partition.leader_epoch, 0)

    def apply(self, old: MetadataImage, new: MetadataImage) -> None:
        """Make this node's replicas match ``new`` (a subscriber of the controller)."""
        changes = local_changes(old, new, self.node_id)
        fetchers = self.fetchers
        for topic, index in changes.deletes:
            if fetchers is not None:
                fetchers.unfollow((topic.name, index))
            self._drop(topic, index)
        config_of = self._config_of(new)
        seeded = self.logs.high_watermarks() if changes.leaders else {}
        for topic, index, partition in changes.leaders:
            replica = self.replica(topic.name, index)
            if replica is None:
                replica = self._add(topic, index, partition, config_of, seeded)
            if fetchers is not None:
                fetchers.unfollow((topic.name, index))
            replica.become_leader(partition.leader_epoch, frozenset(partition.isr))
        for topic, index, partition in changes.followers:
            replica = self.replica(topic.name, index)
            if replica is None:
                replica = self._add(topic, index, partition, config_of, seeded)
            replica.become_follower(partition.leader, partition.leader_epoch)
            if fetchers is not None:
                leader = new.brokers.get(partition.leader)
                fetchers.follow(replica, leader.endpoints if leader is not None else ())
        if fetchers is not None and new.brokers is not old.brokers:
            self._follow_moved_leaders(fetchers, old, new)

    def _follow_moved_leaders(
        self, fetchers: ReplicaFetcherManager, old: MetadataImage, new: MetadataImage
    ) -> None:
        """Fetch from a leader that registered (again, maybe at another address) since."""
        followed = fetchers.followed()
        for replica in self.all_replicas():
            if replica.role is not Role.FOLLOWER:
                continue
            leader = new.brokers.get(replica.leader_id)
            if leader is None:
                continue
            before = old.brokers.get(replica.leader_id)
            moved = before is None or before.endpoints != leader.endpoints
            if moved or (replica.topic, replica.index) not in followed:
                fetchers.follow(replica, leader.endpoints)

    def _add(
        self,
        topic: TopicImage,
        index: int,
        partition: PartitionRegistration,
        config_of: Callable[[str], LogConfig],
        seeded: Mapping[TopicPartition, int],
    ) -> Replica:
        key = (topic.name, index)
        partition_log = self._prepared.pop(key, None)
        if partition_log is not None:
            self.logs.register([partition_log])
        else:
            partition_log = self.logs.get(*key) or self.logs.create(
                topic.name, index, topic.topic_id, config_of(topic.name)
            )
        replica = Replica(
            topic.name,
            index,
            partition_log,
            partition.leader_epoch,
            node_id=self.node_id,
            isr=frozenset(partition.isr),  # the HW rule needs the whole ISR from the start
            high_watermark=seeded.get(key, 0),
        )
        self._topics.setdefault(topic.name, {})[index] = replica
        return replica

    def _drop(self, topic: TopicImage, index: int) -> None:
        replicas = self._topics.get(topic.name, {})
        if replicas.pop(index, None) is None:
            return
        if not replicas:
            del self._topics[topic.name]
        self._removed.setdefault(topic.topic_id, []).extend(
            self.logs.unregister(topic.name, range(index, index + 1))
        )

    def _config_of(self, image: MetadataImage) -> Callable[[str], LogConfig]:
        def config_of(name: str) -> LogConfig:
            return log_config(image.topic_config(name), self.defaults)

        return config_of

    # -- directories (the controller's PartitionStorage) --------------------------------

    async def prepare(
        self, topic: str, topic_id: uuid.UUID, partitions: range, config: LogConfig
    ) -> None:
        """Make the directories of new partitions in a worker thread; they are served once
        an image lists them."""
        made = await asyncio.to_thread(
            self.logs.make, topic, partitions, topic_id, config, leader_epoch=0
        )
        for partition_log in made:
            self._prepared[(topic, partition_log.partition)] = partition_log

    async def remove(self, topic: TopicImage) -> None:
        """Delete from disk the logs of a topic the image dropped. Raises OSError."""
        logs = self._removed.pop(topic.topic_id, [])
        await asyncio.to_thread(self.logs.remove, logs)

    # -- background duties --------------------------------------------------------------

    def checkpoint(self) -> None:
        """Write the recovery-point, log-start and replication-offset checkpoints."""
        self.logs.checkpoint(self.high_watermarks())

    async def stop_fetching(self) -> None:
        """Stop the fetchers (before ``close``: no append may come after it)."""
        if self.fetchers is not None:
            await self.fetchers.close()

    def close(self) -> None:
        """Flush and close every log and mark the shutdown clean."""
        self.logs.close(self.high_watermarks())
