"""The composition root of a single node: builds it from one config, by role (``process.roles``).

This is single-node mode (no ``controller.quorum.voters``); a node of a cluster is built by
:mod:`broker.cluster_node` instead.

Shared services come first (the clock, the data directory's logs in the replica manager, the
metadata cache), then the controller role (today the single node's ``LocalController``: it
owns topic changes and producer ids and publishes metadata images), then the broker role
(the group coordinator, the client listener and the background duties: retention, flush,
checkpoints); once its listener is bound the node registers itself in the image as a
broker, anew at every start. ``Node.start()`` opens the data directory (recovering after an
unclean stop); ``Node.stop()`` stops the broker role first and the controller last, then
flushes every log and writes Kafka's clean-shutdown marker.
"""

from __future__ import annotations

import logging
import time

from broker.clock import Clock, SystemClock
from broker.config import BrokerConfig
from broker.controller.local import LocalController
from broker.controller.topics import NewTopic
from broker.groups.coordinator import GroupSettings
from broker.groups.routing import GroupCoordinators
from broker.log_duties import LogDuties
from broker.metadata.cache import MetadataCache
from broker.metadata.records import Endpoint
from broker.metadata.store import JsonMetadataStore
from broker.metadata.topics import OFFSETS_TOPIC
from broker.net.context import BoundAddress, Context
from broker.net.handlers import REGISTRY
from broker.net.server import Server, bind
from broker.replica.manager import ReplicaManager
from broker.storage.manager import LogManager

log = logging.getLogger("broker")


class Node:
    def __init__(self, config: BrokerConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.listener = BoundAddress()
        self.replicas: ReplicaManager | None = None
        self.controller: LocalController | None = None
        self.server: Server | None = None
        self.groups: GroupCoordinators | None = None
        self._log_duties: LogDuties | None = None

    @property
    def port(self) -> int:
        return self.listener.port

    async def start(self) -> None:
        """Open storage and listen. Raises StorageError or OSError with a clear message."""
        started = time.monotonic()
        self._start_shared()
        if "controller" in self.config.process_roles:
            self._start_controller()
        if "broker" in self.config.process_roles:
            await self._start_broker()
        assert self.controller is not None
        image = self.controller.image
        log.info(
            "loaded %d topics, %d partitions in %.2f s",
            len(image.topics),
            sum(len(topic.partitions) for topic in image.topics.values()),
            time.monotonic() - started,
        )

    def _start_shared(self) -> None:
        config = self.config
        logs = LogManager(
            config.data_dir, producer_id_expiration_ms=config.producer_id_expiration_ms
        )
        self.replicas = ReplicaManager(logs, config.node_id, config.log_defaults, clock=self.clock)

    def _start_controller(self) -> None:
        config, replicas = self.config, self.replicas
        assert replicas is not None
        store = JsonMetadataStore(config.data_dir, config.node_id)
        self.controller = LocalController(
            store,
            replicas,
            config.log_defaults,
            config.node_id,
            unclean_leader_election=config.unclean_leader_election_enable,
        )
        self.controller.subscribe(replicas.apply)
        self.controller.load()

    async def _start_broker(self) -> None:
        config, replicas, controller = self.config, self.replicas, self.controller
        assert replicas is not None and controller is not None
        metadata = MetadataCache(controller.cluster_id, controller.image)
        controller.subscribe(metadata.apply)
        # Bound first, as a Kafka broker binds before it registers: the node registers with
        # its port, and is a broker the controller can place the offsets topic on.
        listening = await bind(config.host, config.port)
        try:
            self.listener.port = listening.getsockname()[1]
            listener = Endpoint(self.listener.name, config.advertised, self.listener.port)
            controller.register_node((listener,), self.clock.now_ms())
            self.groups = await self._group_coordinator(controller, replicas)
        except BaseException:
            listening.close()
            raise
        context = Context(
            config=config,
            clock=self.clock,
            metadata=metadata,
            replicas=replicas,
            controller=controller,
            groups=self.groups,
            api_keys=REGISTRY.advertised(),
            listener=self.listener,
        )
        self.server = Server(context, REGISTRY, listening)
        self.server.start()
        self._log_duties = LogDuties(config, self.clock, replicas)

    async def _group_coordinator(
        self, controller: LocalController, replicas: ReplicaManager
    ) -> GroupCoordinators:
        """Committed offsets and group state live in ``__consumer_offsets``, as in Kafka."""
        config = self.config
        if OFFSETS_TOPIC not in controller.image.topics:
            await controller.create_topic(
                NewTopic(
                    OFFSETS_TOPIC,
                    config.offsets_topic_num_partitions,
                    configs={"cleanup.policy": "compact", "segment.bytes": str(100 << 20)},
                )
            )
        held = replicas.replicas_of(OFFSETS_TOPIC)
        settings = GroupSettings(
            initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=config.group_min_session_timeout_ms,
            max_session_timeout_ms=config.group_max_session_timeout_ms,
            offset_metadata_max_bytes=config.offset_metadata_max_bytes,
            offset_commit_timeout_ms=config.offsets_commit_timeout_ms,
        )
        coordinator = GroupCoordinators(len(held), settings, self.clock)
        coordinator.attach(held.values())  # one node leads every partition: all load now
        replicas.observe(coordinator.on_role_change)

        def drop_offsets_of_deleted_topics() -> None:
            topics = controller.image.topics
            coordinator.remove_offsets(lambda name: name in topics)

        # At start too: a crash between a topic's deletion and this left offsets behind.
        drop_offsets_of_deleted_topics()
        controller.on_topic_deleted = drop_offsets_of_deleted_topics
        return coordinator

    async def stop(self) -> None:
        # The broker role first, the controller last, the shared logs after both.
        if self._log_duties is not None:
            self._log_duties.stop()
        if self.server is not None:
            await self.server.stop()
        if self.groups is not None:
            self.groups.close()
        if self.replicas is not None and self.controller is not None:
            self.replicas.close()
        log.info("stopped cleanly")
