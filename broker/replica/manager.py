"""The replica manager: this node's partitions as replicas, and the logs behind them.

Owns the ``LogManager``. Every new metadata image is turned into "become leader / become
follower / delete" changes for this node (``broker.metadata.changes``) and applied here, so
the set of replicas always matches the latest image; with a ``ReplicaFetcherManager`` (a node
in a cluster) the partitions it follows are fetched from their leaders. Handlers find a
partition's replica here and go through it; none touches a log. High watermarks are seeded
from Kafka's ``replication-offset-checkpoint`` at start and written back with the other
checkpoints. A changed topic or dynamic broker config reaches the live logs with the image
that carries it (``_reconfigure``). Followers' fetches held by the Fetch handler are registered
here (``hold``), so taking over a partition's leadership answers its followers' at once.

Directories: on a single node the ``LocalController`` makes a topic's directories before its
image lists them (``prepare``) and removes them once the deletion is stored (``remove``). In a
cluster (``owns_directories``) no controller touches a broker's disk, so the manager does it
as the image changes, as Kafka's brokers do: a partition the image drops is renamed to its
``-delete`` name at once and removed in a worker thread (a crash in between leaves a
directory the next load removes); a partition the image gives this node without a directory
gets one made in worker threads, and takes its role once it exists, from the image of that
moment, so a 3,000-partition topic never holds up the event loop. At start, any directory
that is not one of this node's replicas in the replayed image is set aside as a stray: a
crash between a deletion and its rename cannot bring a topic back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from broker.clock import Clock, SystemClock
from broker.metadata.changes import LocalChanges, local_changes
from broker.metadata.image import MetadataImage, PartitionRegistration, TopicImage
from broker.metadata.topics import broker_log_defaults, log_config
from broker.replica.fetcher import ReplicaFetcherManager
from broker.replica.replica import Replica, Role
from broker.storage.config import LogConfig
from broker.storage.errors import StorageError
from broker.storage.log import PartitionLog
from broker.storage.manager import LogManager, TopicPartition

log = logging.getLogger("broker.replica")


@dataclass(eq=False)
class HeldFetch:
    """A follower's Fetch held here for appends: ``new_partition`` once this node took over
    leading a partition that follower replicates (the Fetch is then answered at once)."""

    waiter: asyncio.Future[None]
    new_partition: bool = False


class ReplicaManager:
    """``fetchers`` (a node in a cluster) fetch the partitions followed here from their
    leaders; ``clock`` times the followers' fetches; ``on_isr_candidate`` is told when a
    follower of a partition led here catches up enough to join its ISR (the node passes
    ``IsrUpdater.expand`` in cluster mode); ``owns_directories``: make and delete replicas'
    directories as the image changes (cluster mode); without it the single node's
    controller does (see the module). Observers (``observe``) are told of every replica
    whose role an image changed, once the whole image is applied."""

    def __init__(
        self,
        logs: LogManager,
        node_id: int,
        defaults: LogConfig,
        fetchers: ReplicaFetcherManager | None = None,
        *,
        owns_directories: bool = False,
        clock: Clock | None = None,
        on_isr_candidate: Callable[[Replica], None] | None = None,
    ) -> None:
        self.logs = logs
        self.node_id = node_id
        self.defaults = defaults
        self.fetchers = fetchers  # None on a single node: it follows nothing
        self.owns_directories = owns_directories
        self.clock: Clock = clock or SystemClock()
        self._on_isr_candidate = on_isr_candidate
        self._observers: list[Callable[[Replica], None]] = []
        self._topics: dict[str, dict[int, Replica]] = {}
        self._prepared: dict[TopicPartition, PartitionLog] = {}  # made, not yet in an image
        self._removed: dict[uuid.UUID, list[PartitionLog]] = {}  # out of the image, on disk
        self._image = MetadataImage()  # the last one applied
        # Directories being made in worker threads (owns_directories), with their topic id.
        self._making: dict[TopicPartition, uuid.UUID] = {}
        self._directory_work: set[asyncio.Task[None]] = set()
        self._last_making: asyncio.Task[None] | None = None  # makings run one after another
        self._held: dict[int, set[HeldFetch]] = {}  # followers' fetches held here, by follower

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

    # -- followers' held fetches --------------------------------------------------------

    def hold(self, follower: int, waiter: asyncio.Future[None]) -> HeldFetch:
        """Register the held Fetch of ``follower`` (its ``waiter``) until ``release``."""
        held = HeldFetch(waiter)
        self._held.setdefault(follower, set()).add(held)
        return held

    def release(self, follower: int, held: HeldFetch) -> None:
        waiting = self._held.get(follower)
        if waiting is not None:
            waiting.discard(held)
            if not waiting:
                del self._held[follower]

    def _answer_held_fetches(self, replica: Replica) -> None:
        """This node just took over leading ``replica``: the fetches its followers have held
        here name only the partitions they followed from it before, so each is answered at
        once and the follower's next fetch names this one too. Held, an acks=all produce to
        the new leader waited for the follower's long poll to end (replica.fetch.wait.max.ms,
        500 ms), the longest part of the pause a controlled shutdown costs a producer."""
        for follower in replica.replicas:
            for held in self._held.get(follower, ()):
                held.new_partition = True
                if not held.waiter.done():
                    held.waiter.set_result(None)

    # -- following the image ------------------------------------------------------------

    def observe(self, on_role_change: Callable[[Replica], None]) -> None:
        """Call ``on_role_change(replica)`` for each replica an image made a leader or a
        follower, or dropped (stopped: a follower that is no longer held here)."""
        self._observers.append(on_role_change)

    def load(self, image: MetadataImage, doomed: frozenset[uuid.UUID]) -> None:
        """Open the logs of ``image``'s partitions that this node is a replica of (recovering
        as needed), remove those of doomed topic ids, set strays (any other directory) aside,
        and make any log of this node's the image lists but the disk lacks (with
        ``owns_directories``, ``apply`` makes those in worker threads instead)."""

        def known(key: TopicPartition, topic_id: uuid.UUID) -> bool:
            topic = image.topics.get(key[0])
            if topic is None or topic.topic_id != topic_id:
                return False
            partition = topic.partitions.get(key[1])
            return partition is not None and self.node_id in partition.replicas

        self.logs.load(self._config_of(image), known=known, doomed=doomed)
        if self.owns_directories:
            return
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
        self._image = new
        changes = local_changes(old, new, self.node_id)
        fetchers = self.fetchers
        changed: list[Replica] = []
        for topic, index in changes.deletes:
            if fetchers is not None:
                fetchers.unfollow((topic.name, index))
            dropped = self._drop(topic, index)
            if dropped is not None:
                changed.append(dropped)
        if self.owns_directories:
            self._make_missing(changes)
        config_of = self._config_of(new)
        seeded = self.logs.high_watermarks() if changes.leaders else {}
        for topic, index, partition in changes.leaders:
            replica = self.replica(topic.name, index)
            if replica is None:
                replica = self._add(topic, index, partition, config_of, seeded)
            if fetchers is not None:
                fetchers.unfollow((topic.name, index))
            took_over = replica.role is not Role.LEADER
            replica.become_leader(
                partition.leader_epoch,
                frozenset(partition.isr),
                partition.partition_epoch,
                partition.replicas,
            )
            if took_over:
                self._answer_held_fetches(replica)
            changed.append(replica)
        for topic, index, partition in changes.followers:
            replica = self.replica(topic.name, index)
            if replica is None:
                replica = self._add(topic, index, partition, config_of, seeded)
            replica.become_follower(partition.leader, partition.leader_epoch)
            changed.append(replica)
            if fetchers is not None:
                leader = new.brokers.get(partition.leader)
                fetchers.follow(replica, leader.endpoints if leader is not None else ())
        if fetchers is not None and new.brokers is not old.brokers:
            self._follow_moved_leaders(fetchers, old, new)
        if new.configs is not old.configs:
            self._reconfigure(config_of)
        for observer in self._observers:
            for replica in changed:
                observer(replica)

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
            replicas=partition.replicas,
            partition_epoch=partition.partition_epoch,
            high_watermark=seeded.get(key, 0),
            clock=self.clock,
            on_isr_candidate=self._on_isr_candidate,
        )
        self._topics.setdefault(topic.name, {})[index] = replica
        return replica

    def _drop(self, topic: TopicImage, index: int) -> Replica | None:
        replicas = self._topics.get(topic.name, {})
        replica = replicas.pop(index, None)
        if replica is None:
            return None
        replica.stop()
        if not replicas:
            del self._topics[topic.name]
        dropped = self.logs.unregister(topic.name, range(index, index + 1))
        if self.owns_directories:
            self._delete(dropped)
        else:
            self._removed.setdefault(topic.topic_id, []).extend(dropped)
        return replica

    def _config_of(self, image: MetadataImage) -> Callable[[str], LogConfig]:
        defaults = broker_log_defaults(image, self.node_id, self.defaults)

        def config_of(name: str) -> LogConfig:
            return log_config(image.topic_config(name), defaults)

        return config_of

    def _reconfigure(self, config_of: Callable[[str], LogConfig]) -> None:
        """Give every log whose topic or broker configs changed its new config: it takes
        effect at once (retention, segment roll, flush, min.insync.replicas ...)."""
        for name, replicas in self._topics.items():
            config = config_of(name)
            for replica in replicas.values():
                if replica.log.config != config:
                    replica.log.update_config(config)

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

    # -- directories as the image changes (owns_directories) ----------------------------

    def _delete(self, dropped: list[PartitionLog]) -> None:
        """Rename dropped logs to their ``-delete`` names now, remove them in a worker thread."""
        try:
            renamed = self.logs.rename_for_delete(dropped)
        except OSError as err:
            log.error("cannot delete %s: %s; the next start sets it aside", dropped, err)
            return
        self._in_background(self._purge(renamed))

    async def _purge(self, renamed: list[Path]) -> None:
        try:
            await asyncio.to_thread(self.logs.purge, renamed)
        except OSError as err:
            log.error("deleted partitions left on disk (%s); the next start removes them", err)

    def _make_missing(self, changes: LocalChanges) -> None:
        """Take out of ``changes`` the partitions that have no directory here yet, and have
        those made: each takes its role once its directory exists."""
        missing: dict[uuid.UUID, tuple[TopicImage, list[int]]] = {}
        for wanted in (changes.leaders, changes.followers):
            ready = []
            for change in wanted:
                topic, index, _ = change
                key = (topic.name, index)
                if (
                    self.replica(*key) is not None
                    or key in self._prepared
                    or self.logs.get(*key) is not None
                ):
                    ready.append(change)
                elif self._making.get(key) != topic.topic_id:
                    self._making[key] = topic.topic_id
                    missing.setdefault(topic.topic_id, (topic, []))[1].append(index)
                # else: being made already; it takes the role the image has once it is made
            wanted[:] = ready
        for topic, indexes in missing.values():
            after = self._last_making
            self._last_making = self._in_background(self._make(topic, indexes, after))

    async def _make(
        self, topic: TopicImage, indexes: list[int], after: asyncio.Task[None] | None
    ) -> None:
        """Make the directories of ``topic``'s partitions ``indexes`` in worker threads (after
        the making before, which may hold a directory of the same name), then serve those the
        image still gives this node and delete the others."""
        if after is not None:
            await asyncio.wait([after])
        try:
            config = self._config_of(self._image)(topic.name)
            made = await asyncio.to_thread(
                self.logs.make, topic.name, indexes, topic.topic_id, config
            )
        except (OSError, StorageError, ValueError) as err:  # ValueError: a bad config value
            made = []
            log.error("cannot make the directories of topic %r: %s", topic.name, err)
        finally:
            for index in indexes:
                if self._making.get((topic.name, index)) == topic.topic_id:
                    del self._making[(topic.name, index)]
        image = self._image
        current = image.topics_by_id.get(topic.topic_id)
        served: list[int] = []
        for partition_log in made:
            index = partition_log.partition
            partition = current.partitions.get(index) if current is not None else None
            if partition is not None and self.node_id in partition.replicas:
                self._prepared[(topic.name, index)] = partition_log
                served.append(index)
            else:  # deleted (or moved) meanwhile
                self._delete([partition_log])
        if served and current is not None:
            self.apply(_without(image, current, served), image)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._directory_work.add(task)
        task.add_done_callback(self._directory_work.discard)
        return task

    async def finish_directory_work(self) -> None:
        """Wait until the directories being made or deleted are (a clean stop, tests)."""
        while self._directory_work:
            await asyncio.wait(set(self._directory_work))

    # -- background duties --------------------------------------------------------------

    def checkpoint(self) -> None:
        """Write the recovery-point, log-start and replication-offset checkpoints."""
        self.logs.checkpoint(self.high_watermarks())

    async def stop_fetching(self) -> None:
        """Stop the fetchers (before ``close``: no append may come after it)."""
        if self.fetchers is not None:
            await self.fetchers.close()

    def close(self) -> None:
        """Flush and close every log and mark the shutdown clean. Directories still being
        made are left to the next start (loaded if the image lists them, set aside if not)."""
        for task in self._directory_work:
            task.cancel()
        self.logs.close(self.high_watermarks())


def _without(image: MetadataImage, topic: TopicImage, indexes: list[int]) -> MetadataImage:
    """``image`` as it was before ``topic``'s partitions ``indexes`` were created: applying the
    step from it to ``image`` gives those partitions their roles as any new partition gets
    them."""
    left = {i: p for i, p in topic.partitions.items() if i not in indexes}
    smaller = replace(topic, partitions=MappingProxyType(left))
    return replace(
        image,
        topics=MappingProxyType({**image.topics, topic.name: smaller}),
        topics_by_id=MappingProxyType({**image.topics_by_id, topic.topic_id: smaller}),
    )
