"""Follower replication between replica managers in one process, over real sockets: each
node's partitions are served by the real Fetch handler on a real server, and followed by the
real ``ReplicaFetcherManager`` through ``broker.net.client.NodeClients``. Followers catch up
byte for byte, the leader's high watermark follows them, a divergent suffix of an old leader
is cut where its log leaves the new leader's, and followers follow a leader change."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from broker.clock import SystemClock
from broker.config import BrokerConfig
from broker.controller.local import LocalController
from broker.groups.coordinator import GroupCoordinator, GroupSettings
from broker.groups.store import OffsetStore
from broker.metadata.cache import MetadataCache
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    Endpoint,
    PartitionChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
)
from broker.metadata.store import JsonMetadataStore
from broker.metadata.topics import OFFSETS_TOPIC
from broker.net.client import NodeClients
from broker.net.context import Context
from broker.net.handlers import REGISTRY
from broker.net.server import Server, bind
from broker.protocol.batch import validate_produced
from broker.replica.fetcher import FetcherConfig, ReplicaFetcherManager
from broker.replica.manager import ReplicaManager
from broker.replica.replica import Replica
from broker.storage import LogConfig
from broker.storage.manager import LogManager
from tests.support.batches import make_batch

TOPIC_ID = uuid.UUID(int=77)
OFFSETS_ID = uuid.UUID(int=78)
FAST = FetcherConfig(max_wait_ms=200, backoff_ms=50)
# Fetches that wait far longer than any test: only appends can answer them in time.
PATIENT = FetcherConfig(max_wait_ms=60_000, socket_timeout_ms=90_000, backoff_ms=50)


class Node:
    """One node's replica manager, fetchers and client listener, in this process."""

    def __init__(self, node_id: int, root: Path, config: FetcherConfig) -> None:
        self.node_id = node_id
        self.root = root
        self.clock = SystemClock()
        self.clients = NodeClients(client_id=f"replica-fetcher-{node_id}")
        fetchers = ReplicaFetcherManager(node_id, self.clients, self.clock, config)
        self.replicas = ReplicaManager(LogManager(root), node_id, LogConfig(), fetchers)
        self.image = MetadataImage()
        self.server: Server | None = None
        self.port = 0

    async def listen(self) -> None:
        self._listening = await bind("127.0.0.1", 0)
        self.port = self._listening.getsockname()[1]

    def start(self, image: MetadataImage) -> None:
        self.replicas.load(image, frozenset())
        self.apply(image)
        clock, replicas = self.clock, self.replicas
        context = Context(
            config=BrokerConfig(data_dir=self.root, node_id=self.node_id),
            clock=clock,
            metadata=MetadataCache("replication-test", image),
            replicas=replicas,
            controller=LocalController(
                JsonMetadataStore(self.root, self.node_id), replicas, LogConfig(), self.node_id
            ),
            groups=GroupCoordinator(
                OffsetStore([replicas.replica(OFFSETS_TOPIC, self.node_id)], clock.now_ms),
                GroupSettings(),
                clock,
            ),
            api_keys=REGISTRY.advertised(),
        )
        self.server = Server(context, REGISTRY, self._listening)
        self.server.start()

    def apply(self, image: MetadataImage) -> None:
        self.replicas.apply(self.image, image)
        self.image = image

    @property
    def replica(self) -> Replica:
        replica = self.replicas.replica("t", 0)
        assert replica is not None
        return replica

    def write(self, count: int) -> None:
        for i in range(count):
            batch = make_batch([b"node-%d-%d" % (self.node_id, i)], producer_id=-1)
            self.replica.append(batch, validate_produced(batch), self.clock.now_ms())

    def everything(self) -> bytes:
        replica = self.replica
        region = replica.log.read(0, 1 << 30, replica.log_end_offset)
        return b"" if region is None else region.read_bytes()

    async def stop(self) -> None:
        await self.replicas.stop_fetching()
        if self.server is not None:
            await self.server.stop()
        await self.clients.close()
        self.replicas.close()


async def eventually(check, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def cluster(
    tmp_path: Path, size: int, config: FetcherConfig = FAST
) -> tuple[list[Node], MetadataImage]:
    """``size`` nodes, all replicas of t-0, led by node 0 in epoch 1."""
    nodes = [Node(i, tmp_path / f"node-{i}", config) for i in range(size)]
    for node in nodes:
        node.root.mkdir(exist_ok=True)
        await node.listen()
    ids = tuple(range(size))
    image = MetadataImage().apply_all(
        [
            *(
                RegisterBrokerRecord(
                    node.node_id,
                    uuid.uuid4(),
                    1,
                    (Endpoint("PLAINTEXT", "127.0.0.1", node.port),),
                    fenced=False,
                )
                for node in nodes
            ),
            TopicRecord("t", TOPIC_ID),
            PartitionRecord(0, TOPIC_ID, ids, ids, 0, leader_epoch=1),
            # Each node's group coordinator needs an offsets partition: its own, led alone.
            TopicRecord(OFFSETS_TOPIC, OFFSETS_ID),
            *(PartitionRecord(i, OFFSETS_ID, (i,), (i,), i) for i in ids),
        ]
    )
    for node in nodes:
        node.start(image)
    return nodes, image


def test_followers_catch_up_byte_for_byte_and_move_the_high_watermark(tmp_path) -> None:
    async def run() -> None:
        nodes, _ = await cluster(tmp_path, 3, PATIENT)
        leader, *followers = nodes
        try:
            leader.write(20)
            await eventually(lambda: leader.replica.high_watermark == 20)
            for follower in followers:
                assert follower.everything() == leader.everything()
                assert follower.replica.leader_id == 0
            await eventually(lambda: all(f.replica.high_watermark == 20 for f in followers))
            assert leader.replica.follower_end_offsets == {1: 20, 2: 20}
            leader.write(5)  # the followers' waiting fetches wake on the append
            await eventually(lambda: leader.replica.high_watermark == 25)
            assert all(f.everything() == leader.everything() for f in followers)
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(run())


def test_an_old_leaders_divergent_suffix_is_cut_and_every_node_follows_the_new_leader(
    tmp_path,
) -> None:
    async def run() -> None:
        nodes, image = await cluster(tmp_path, 3)
        zombie, heir, follower = nodes
        try:
            zombie.write(5)
            await eventually(lambda: zombie.replica.high_watermark == 5)
            moved = image.apply(PartitionChangeRecord(0, TOPIC_ID, isr=(1, 2), leader=1))
            heir.apply(moved)
            follower.apply(moved)  # node 0 has not heard yet: it writes on in epoch 1
            zombie.write(3)
            heir.write(2)
            await eventually(lambda: follower.replica.log_end_offset == 7)
            assert follower.everything() == heir.everything()
            assert zombie.replica.log_end_offset == 8
            assert zombie.replica.high_watermark == 5  # its followers left: nothing acked
            zombie.apply(moved)
            await eventually(lambda: zombie.everything() == heir.everything())
            assert zombie.replica.log.leader_epochs == [(1, 0), (2, 5)]
            assert zombie.replica.leader_id == follower.replica.leader_id == 1
            await eventually(lambda: heir.replica.follower_end_offsets == {0: 7, 2: 7})
            assert zombie.replicas.fetchers.followed() == {("t", 0): 1}
            assert heir.replicas.fetchers.followed() == {}
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(run())
