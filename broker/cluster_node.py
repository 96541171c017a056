"""The composition root of a cluster node (``controller.quorum.voters`` set).

Built by role, as Kafka's ``KafkaRaftServer`` builds a ``ControllerServer`` and a
``BrokerServer``:

- Shared: the clock, the Raft runtime (a voter if this node is in the voters list, an
  observer otherwise) over ``<data_dir>/__cluster_metadata-0``, and the metadata publisher
  that turns its committed entries into images.
  The publisher snapshots its image as ``metadata.log.max.record.bytes.between.snapshots``
  and ``metadata.log.max.snapshot.interval.ms`` say, so a restart loads a snapshot and
  replays only the entries after it.
- Controller role: the ``QuorumController`` (it acts while this node leads the quorum) and
  the CONTROLLER listener, which serves the quorum's Raft APIs and the controller's APIs.
  It starts first and stops last.
- Broker role: first it catches up with the metadata log, so the image says which partition
  directories are this node's (any other is set aside as a stray); then the replica manager
  follows the image, the client listener (PLAINTEXT) serves the same handlers as a single
  node, with :class:`~broker.net.forwarding.RemoteController` in place of the local
  controller, and :class:`~broker.lifecycle.BrokerLifecycle` registers with the active
  controller and heartbeats. ``start()`` returns once the controller has unfenced this broker.
  The group coordinator follows this broker's leaderships of ``__consumer_offsets``
  partitions; the broker then asks the controller for that topic (with
  ``offsets.topic.replication.factor`` replicas, again while too few brokers are registered)
  and FindCoordinator answers COORDINATOR_NOT_AVAILABLE until it exists, as in Kafka.
  ``stop()`` is a controlled shutdown first: the controller moves this broker's leaderships
  away before it stops serving.

The cluster id is ``cluster.id`` (``chirpstream cluster`` writes the same one into every
node's properties, as ``kafka-storage format --cluster-id`` does); without it, one derived
from the voter ids, which every node of one cluster shares even when it reaches the other
voters at other addresses (through proxies, say).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from broker.clock import Clock, Repeating, SystemClock, sleep
from broker.config import CLIENT_LISTENER, BrokerConfig, derived_cluster_id
from broker.controller.quorum import ControllerSettings, QuorumController
from broker.controller.topics import NewTopic
from broker.groups.coordinator import GroupSettings
from broker.groups.routing import GroupCoordinators
from broker.lifecycle import BrokerLifecycle
from broker.log_duties import LogDuties
from broker.metadata.cache import MetadataCache
from broker.metadata.image import MetadataImage
from broker.metadata.publisher import MetadataPublisher
from broker.metadata.records import Endpoint
from broker.metadata.snapshot import MetadataSnapshotter, SnapshotSettings
from broker.metadata.topics import OFFSETS_TOPIC, TopicError
from broker.net.client import NodeClients
from broker.net.context import BoundAddress, Context
from broker.net.controller_handlers import CONTROLLER_REGISTRY, ControllerContext
from broker.net.forwarding import ControllerChannel, RemoteController
from broker.net.handlers import REGISTRY
from broker.net.server import Server, bind
from broker.raft.runtime import RaftRuntime
from broker.raft.store import metadata_log_dir
from broker.replica.alter_partition import IsrUpdater
from broker.replica.fetcher import ReplicaFetcherManager
from broker.replica.manager import ReplicaManager
from broker.storage.manager import LogManager

log = logging.getLogger("broker")

CATCH_UP_POLL_S = 0.05
CATCH_UP_LOG_S = 5.0
OFFSETS_TOPIC_RETRY_S = 1.0


def cluster_id_of(config: BrokerConfig) -> str:
    """``cluster.id``, or else an id every node of one cluster derives alike: from the
    voter ids (not their addresses, which differ from node to node behind proxies)."""
    return config.cluster_id or derived_cluster_id(",".join(map(str, sorted(config.quorum_voters))))


class ClusterNode:
    def __init__(self, config: BrokerConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.cluster_id = cluster_id_of(config)
        self.listener = BoundAddress(CLIENT_LISTENER)
        self.publisher = MetadataPublisher()  # start() gives it the snapshotter
        self.raft: RaftRuntime | None = None
        self.controller: QuorumController | None = None
        self.replicas: ReplicaManager | None = None
        self.lifecycle: BrokerLifecycle | None = None
        self.remote: RemoteController | None = None
        self.groups: GroupCoordinators | None = None
        self._channel: ControllerChannel | None = None
        self._isr: IsrUpdater | None = None
        self._snapshotter: MetadataSnapshotter | None = None
        self._fetch_clients: NodeClients | None = None
        self._raft_clients: NodeClients | None = None
        self._controller_server: Server | None = None
        self._server: Server | None = None
        self._duties: list[Repeating] = []
        self._log_duties: LogDuties | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The client listener's port (0 on a controller-only node)."""
        return self.listener.port

    @property
    def controller_port(self) -> int | None:
        listener = self.config.controller_listener
        return None if listener is None else listener.port

    def listeners(self) -> str:
        """What this node listens on, for its READY line."""
        found = []
        if self.config.is_broker:
            found.append(f"{CLIENT_LISTENER}://{self.config.advertised}:{self.port}")
        if self.config.controller_listener is not None:
            found.append(str(self.config.controller_listener))
        return ",".join(found)

    # -- starting -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the shared services, the controller role, then the broker role. Raises
        StorageError or OSError with a clear message."""
        config = self.config
        voters = dict(config.quorum_voters)
        self._raft_clients = NodeClients(voters, client_id=f"raft-{config.node_id}")
        self.raft = RaftRuntime(
            config.node_id,
            voters,
            metadata_log_dir(config.data_dir),
            self.clock,
            config.quorum,
            self._raft_clients,
        )
        # One snapshotter per node, on the publisher, whatever the roles (as Kafka's
        # SnapshotGenerator sits on every node's MetadataLoader): an observer's log is
        # snapshotted and shortened too, and a combined node snapshots once.
        self._snapshotter = MetadataSnapshotter(
            self.raft,
            self.clock,
            SnapshotSettings(
                max_bytes_between_snapshots=config.metadata_snapshot_max_bytes,
                max_interval_ms=config.metadata_snapshot_interval_ms,
            ),
        )
        self.publisher = MetadataPublisher(self._snapshotter)
        self.raft.subscribe(self.publisher.on_commit, self.publisher.load_snapshot)
        if config.is_controller:
            await self._start_controller()
        await self.raft.start()
        if config.is_broker:
            await self._start_broker()

    async def _start_controller(self) -> None:
        config = self.config
        assert self.raft is not None and config.controller_listener is not None
        settings = ControllerSettings(
            session_timeout_ms=config.broker_session_timeout_ms,
            auto_leader_rebalance=config.auto_leader_rebalance_enable,
            leader_imbalance_check_interval_ms=config.leader_imbalance_check_interval_seconds
            * 1000,
            leader_imbalance_per_broker_percentage=config.leader_imbalance_per_broker_percentage,
            unclean_leader_election=config.unclean_leader_election_enable,
            num_partitions=config.num_partitions,
            default_replication_factor=config.default_replication_factor,
        )
        self.controller = QuorumController(config.node_id, self.raft, self.clock, settings)
        context = ControllerContext(
            config=config,
            clock=self.clock,
            raft=self.raft,
            controller=self.controller,
            node_id=config.node_id,
            api_keys=CONTROLLER_REGISTRY.advertised(),
            cluster_id=self.cluster_id,
        )
        listener = config.controller_listener
        listening = await bind(listener.host, listener.port)
        self._controller_server = Server(context, CONTROLLER_REGISTRY, listening)
        self._controller_server.start()

    async def _start_broker(self) -> None:
        config, raft = self.config, self.raft
        assert raft is not None
        started = time.monotonic()
        await self._catch_up()
        image = self.publisher.image
        logs = LogManager(
            config.data_dir, producer_id_expiration_ms=config.producer_id_expiration_ms
        )
        voters = config.quorum_voters
        self._channel = ControllerChannel(
            NodeClients(voters, client_id=f"broker-{config.node_id}"),
            list(voters),
            lambda: raft.leader_id,
            self.clock,
        )
        # ISR changes of the partitions led here go to the controller as AlterPartition.
        isr = self._isr = IsrUpdater(
            config.node_id,
            self.clock,
            self._channel.send,
            lambda: self.publisher.image,
            config.replica_lag_time_max_ms,
        )
        # Replica fetches long-poll: their connections are their own, not the controller's.
        self._fetch_clients = NodeClients({}, client_id=f"replica-fetcher-{config.node_id}")
        fetchers = ReplicaFetcherManager(config.node_id, self._fetch_clients, self.clock)
        replicas = self.replicas = ReplicaManager(
            logs,
            config.node_id,
            config.log_defaults,
            fetchers,
            clock=self.clock,
            on_isr_candidate=isr.expand,
            owns_directories=True,
        )
        replicas.load(image, frozenset())
        replicas.apply(MetadataImage(), image)
        metadata = MetadataCache(self.cluster_id, image)
        self.publisher.subscribe(replicas.apply)
        self.publisher.subscribe(metadata.apply)
        self.publisher.subscribe(self._forget_offsets_of_deleted_topics)
        log.info(
            "caught up with the metadata log at offset %d: %d topics, %d partitions in %.2f s",
            self.publisher.offset,
            len(image.topics),
            sum(len(topic.partitions) for topic in image.topics.values()),
            time.monotonic() - started,
        )
        listening = await bind(config.host, config.port or 0)
        try:
            self.listener.port = listening.getsockname()[1]
            endpoint = Endpoint(CLIENT_LISTENER, config.advertised, self.listener.port)
            self.lifecycle = BrokerLifecycle(
                node_id=config.node_id,
                cluster_id=self.cluster_id,
                endpoints=(endpoint,),
                channel=self._channel,
                clock=self.clock,
                metadata_offset=lambda: self.publisher.offset,
                heartbeat_interval_ms=config.broker_heartbeat_interval_ms,
            )
            self.lifecycle.start()
            lifecycle = self.lifecycle
            self.remote = RemoteController(
                self._channel,
                self.publisher,
                lambda: lifecycle.broker_epoch,
                config.node_id,
                lambda: raft.leader_id,
            )
            self.groups = self._group_coordinator(replicas)
            await self.lifecycle.wait_unfenced()
        except BaseException:
            listening.close()
            raise
        context = Context(
            config=config,
            clock=self.clock,
            metadata=metadata,
            replicas=replicas,
            controller=self.remote,
            groups=self.groups,
            api_keys=REGISTRY.advertised(),
            listener=self.listener,
        )
        self._server = Server(context, REGISTRY, listening)
        self._server.start()
        self._log_duties = LogDuties(config, self.clock, replicas)
        self._background(self._create_offsets_topic())
        # Kafka's isr-expiration task runs at half the lag it checks for.
        self._every(
            config.replica_lag_time_max_ms // 2, lambda: isr.isr_pass(replicas.all_replicas())
        )

    async def _catch_up(self) -> None:
        """Wait until this node has applied the metadata log up to the quorum's high
        watermark as first learned (Kafka's brokers wait for the same before serving)."""
        raft = self.raft
        assert raft is not None
        waited, logged = time.monotonic(), 0.0
        while not (
            raft.leader_id >= 0
            and raft.high_watermark > 0
            and self.publisher.offset + 1 >= raft.high_watermark
        ):
            if time.monotonic() - waited - logged >= CATCH_UP_LOG_S:
                logged = time.monotonic() - waited
                log.info(
                    "waiting for the metadata log: leader %d, high watermark %d, applied %d",
                    raft.leader_id,
                    raft.high_watermark,
                    self.publisher.offset,
                )
            await sleep(self.clock, CATCH_UP_POLL_S)

    def _group_coordinator(self, replicas: ReplicaManager) -> GroupCoordinators:
        """The group coordinator shards of the ``__consumer_offsets`` partitions led here,
        following this broker's leaderships from now on."""
        config = self.config
        settings = GroupSettings(
            initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=config.group_min_session_timeout_ms,
            max_session_timeout_ms=config.group_max_session_timeout_ms,
            offset_metadata_max_bytes=config.offset_metadata_max_bytes,
            offset_commit_timeout_ms=config.offsets_commit_timeout_ms,
        )
        # Until the topic exists (it is asked for once this broker serves) FindCoordinator
        # answers COORDINATOR_NOT_AVAILABLE; it will have offsets.topic.num.partitions.
        offsets = self.publisher.image.topics.get(OFFSETS_TOPIC)
        partitions = (
            config.offsets_topic_num_partitions if offsets is None else len(offsets.partitions)
        )
        coordinator = GroupCoordinators(partitions, settings, self.clock)
        coordinator.attach(replicas.replicas_of(OFFSETS_TOPIC).values())
        replicas.observe(coordinator.on_role_change)
        return coordinator

    async def _create_offsets_topic(self) -> None:
        """Ask the controller for ``__consumer_offsets`` with
        ``offsets.topic.replication.factor`` replicas, as Kafka's brokers do; while too few
        brokers are registered the controller refuses and it is asked again."""
        config, remote = self.config, self.remote
        assert remote is not None
        topic = NewTopic(
            OFFSETS_TOPIC,
            config.offsets_topic_num_partitions,
            config.offsets_topic_replication_factor,
            configs={"cleanup.policy": "compact", "segment.bytes": str(100 << 20)},
        )
        said = ""
        while OFFSETS_TOPIC not in self.publisher.image.topics:
            try:
                await remote.create_topic(topic)
            except TopicError as err:
                if OFFSETS_TOPIC in self.publisher.image.topics:
                    break  # another broker created it
                if str(err) != said:  # once per reason, not once a second
                    said = str(err)
                    log.info("waiting to create %s: %s", OFFSETS_TOPIC, err)
                await sleep(self.clock, OFFSETS_TOPIC_RETRY_S)

    def _forget_offsets_of_deleted_topics(self, old: MetadataImage, new: MetadataImage) -> None:
        """Drop the committed offsets of topics the image dropped, as Kafka's
        onPartitionsDeleted does (the replica manager deletes their directories)."""
        if self.groups is not None and len(new.topics) < len(old.topics):
            groups, topics = self.groups, new.topics
            groups.remove_offsets(lambda name: name in topics)

    def _background(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _every(self, interval_ms: int, duty: Callable[[], object]) -> None:
        if interval_ms <= 0:
            return
        self._duties.append(Repeating(self.clock, interval_ms, duty))

    # -- stopping -----------------------------------------------------------------------

    async def wait_failed(self) -> BaseException:
        """Until this node's Raft runtime stops on a failure: that failure."""
        assert self.raft is not None, "started"
        return await self.raft.wait_failed()

    async def stop(self) -> None:
        """A controlled shutdown, then the broker role, then the controller role and the
        quorum, then the logs."""
        if self.lifecycle is not None:
            # No longer than the session: by then the controller has fenced this broker and
            # moved its leaderships anyway (or there is no quorum to ask).
            await self.lifecycle.controlled_shutdown(self.config.broker_session_timeout_ms / 1000)
            await self.lifecycle.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for duty in self._duties:
            duty.cancel()
        if self._log_duties is not None:
            self._log_duties.stop()
        if self._server is not None:
            await self._server.stop()
        if self._isr is not None:
            await self._isr.close()
        if self.replicas is not None:
            await self.replicas.stop_fetching()
        if self._fetch_clients is not None:
            await self._fetch_clients.close()
        if self.groups is not None:
            self.groups.close()
        if self._channel is not None:
            await self._channel.close()
        if self.controller is not None:
            self.controller.stop()
        if self._snapshotter is not None:
            await self._snapshotter.stop()
        if self.raft is not None:
            await self.raft.stop()
        if self._raft_clients is not None:
            await self._raft_clients.close()
        if self._controller_server is not None:
            await self._controller_server.stop()
        if self.replicas is not None:
            self.replicas.close()
        log.info("stopped cleanly")
