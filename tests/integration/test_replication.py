"""Follower replication between replica managers in one process, over real sockets: each
node's partitions are served by the real Fetch handler on a real server, and followed by the
real ``ReplicaFetcherManager`` through ``broker.net.client.NodeClients``. Followers catch up
byte for byte, the leader's high watermark follows them, a divergent suffix of an old leader
is cut where its log leaves the new leader's, and followers follow a leader change."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as fetch_v12
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i32, i64

from broker.clock import SystemClock
from broker.config import BrokerConfig
from broker.controller.local import LocalController
from broker.groups.coordinator import GroupSettings
from broker.groups.routing import GroupCoordinators
from broker.metadata.cache import MetadataCache
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    Endpoint,
    PartitionChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from broker.metadata.store import JsonMetadataStore
from broker.metadata.topics import OFFSETS_TOPIC
from broker.net.client import KafkaClient, NodeClients
from broker.net.context import Context
from broker.net.handlers import REGISTRY
from broker.net.server import Server, bind
from broker.protocol.batch import validate_produced
from broker.replica.fetcher import FetcherConfig, ReplicaFetcherManager
from broker.replica.manager import ReplicaManager
from broker.replica.replica import Replica
from broker.storage import LogConfig
from broker.storage.errors import DuplicateBatch
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
            groups=self._groups(),
            api_keys=REGISTRY.advertised(),
        )
        self.context = context
        self.server = Server(context, REGISTRY, self._listening)
        self.server.start()

    def _groups(self) -> GroupCoordinators:
        """Group coordination over the offsets partitions this node leads (none, for a node
        that joins as a follower only), as the cluster node builds it."""
        groups = GroupCoordinators(1, GroupSettings(), self.clock)
        groups.attach(self.replicas.replicas_of(OFFSETS_TOPIC).values())
        return groups

    async def move(self) -> None:
        """Listen at another port from now on, as a restarted node may."""
        assert self.server is not None
        await self.server.stop()
        await self.listen()
        self.server = Server(self.context, REGISTRY, self._listening)
        self.server.start()

    def registration(self, epoch: int) -> RegisterBrokerRecord:
        endpoint = Endpoint("PLAINTEXT", "127.0.0.1", self.port)
        return RegisterBrokerRecord(self.node_id, uuid.uuid4(), epoch, (endpoint,), fenced=False)

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
    tmp_path: Path, size: int, config: FetcherConfig = FAST, replicas: int | None = None
) -> tuple[list[Node], MetadataImage]:
    """``size`` nodes, of ``replicas`` (default: ``size``) replicas of t-0, led by node 0 in
    epoch 1; the replicas beyond ``size`` have no node (a test plays them)."""
    nodes = [Node(i, tmp_path / f"node-{i}", config) for i in range(size)]
    for node in nodes:
        node.root.mkdir(exist_ok=True)
        await node.listen()
    ids = tuple(range(size if replicas is None else replicas))
    image = MetadataImage().apply_all(
        [
            *(node.registration(epoch=1) for node in nodes),
            TopicRecord("t", TOPIC_ID),
            PartitionRecord(0, TOPIC_ID, ids, ids, 0, leader_epoch=1),
            # Each node's group coordinator needs an offsets partition: its own, led alone.
            TopicRecord(OFFSETS_TOPIC, OFFSETS_ID),
            *(PartitionRecord(i, OFFSETS_ID, (i,), (i,), i) for i in range(size)),
        ]
    )
    for node in nodes:
        node.start(image)
    return nodes, image


def ends(replica: Replica) -> dict[int, int]:
    """Each follower's log end offset as the leader's replica knows it (-1: not fetched)."""
    return {node: state.log_end_offset for node, state in replica.followers.items()}


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
            assert ends(leader.replica) == {1: 20, 2: 20}
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
            await eventually(lambda: ends(heir.replica) == {0: 7, 2: 7})
            assert zombie.replicas.fetchers.followed() == {("t", 0): 1}
            assert heir.replicas.fetchers.followed() == {}
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(run())


def replica_fetch(
    replica_id: int, offset: int, last_epoch: int = 1, current_epoch: int = 1
) -> fetch_v12.FetchRequest:
    """A follower's Fetch v12 for t-0, answered at once when nothing is there."""
    return fetch_v12.FetchRequest(
        replica_id=BrokerId(replica_id),
        max_wait=datetime.timedelta(0),
        min_bytes=i32(1),
        topics=(
            fetch_v12.FetchTopic(
                topic=TopicName("t"),
                partitions=(
                    fetch_v12.FetchPartition(
                        partition=i32(0),
                        current_leader_epoch=i32(current_epoch),
                        fetch_offset=i64(offset),
                        last_fetched_epoch=i32(last_epoch),
                        partition_max_bytes=i32(1 << 20),
                    ),
                ),
            ),
        ),
        forgotten_topics_data=(),
    )


def test_the_leader_serves_replica_fetches_to_its_log_end_and_fences_them_as_kafka(
    tmp_path,
) -> None:
    """Node 0 leads t-0 with replicas 0, 1, 2; the test plays followers 1 and 2."""

    async def run() -> None:
        (leader,), image = await cluster(tmp_path, 1, replicas=3)
        client = KafkaClient("127.0.0.1", leader.port)

        async def ask(request: fetch_v12.FetchRequest) -> Any:
            answer = await client.request(request)
            return answer.responses[0].partitions[0]

        try:
            leader.write(3)
            consumer = await ask(replica_fetch(-1, 0))
            assert (consumer.error_code, consumer.high_watermark, consumer.records) == (
                ErrorCode.none,
                0,
                b"",
            )  # nothing is committed: the followers have not fetched
            first = await ask(replica_fetch(1, 0))
            assert first.records == leader.everything()  # a follower reads to the log end
            assert ends(leader.replica) == {1: 0, 2: -1}  # 2 has not fetched yet
            await ask(replica_fetch(1, 3))
            assert ends(leader.replica) == {1: 3, 2: -1}
            assert (await ask(replica_fetch(2, 3))).high_watermark == 3

            diverged = await ask(replica_fetch(1, 5, last_epoch=1))
            assert diverged.error_code == ErrorCode.none and diverged.records == b""
            assert (diverged.diverging_epoch.epoch, diverged.diverging_epoch.end_offset) == (1, 3)
            older = await ask(replica_fetch(1, 3, last_epoch=0))  # epoch 0 is not here at all
            assert (older.diverging_epoch.epoch, older.diverging_epoch.end_offset) == (0, 0)
            assert ends(leader.replica) == {1: 3, 2: 3}  # neither was recorded

            stale = await ask(replica_fetch(1, 3, current_epoch=0))
            assert stale.error_code == ErrorCode.fenced_leader_epoch
            ahead = await ask(replica_fetch(1, 3, current_epoch=2))
            assert ahead.error_code == ErrorCode.unknown_leader_epoch
            leader.apply(image.apply(PartitionChangeRecord(0, TOPIC_ID, leader=1)))
            moved = await ask(replica_fetch(2, 3, current_epoch=2))
            assert moved.error_code == ErrorCode.not_leader_or_follower
        finally:
            await client.close()
            await leader.stop()

    asyncio.run(run())


def test_a_new_follower_starts_where_the_leaders_log_starts(tmp_path) -> None:
    """The leader's log starts inside its first batch (4-5 holds the log start, 5): the
    follower, which asks from 0, starts its own log at that batch and keeps the rest."""

    async def run() -> None:
        (leader,), image = await cluster(tmp_path, 1, replicas=2)
        alone = image.apply(PartitionChangeRecord(0, TOPIC_ID, isr=(0,)))
        leader.apply(alone)
        for i in range(5):
            batch = make_batch([b"a%d" % i, b"b%d" % i])
            leader.replica.append(batch, validate_produced(batch), leader.clock.now_ms())
        leader.replica.log.advance_log_start(5)
        follower = Node(1, tmp_path / "node-1", FAST)
        try:
            await follower.listen()
            follower.start(alone)
            await eventually(lambda: follower.replica.log_end_offset == 10)
            await eventually(lambda: follower.replica.log_start_offset == 5)
            kept = leader.replica.log.read(5, 1 << 20, 10).read_bytes()  # from batch 4-5 on
            assert follower.replica.log.read(5, 1 << 20, 10).read_bytes() == kept
            assert (
                follower.replica.log.leader_epochs == leader.replica.log.leader_epochs == [(1, 5)]
            )
        finally:
            await follower.stop()
            await leader.stop()

    asyncio.run(run())


def test_fetching_stops_for_a_deleted_topic(tmp_path) -> None:
    async def run() -> None:
        nodes, image = await cluster(tmp_path, 2)
        leader, follower = nodes
        try:
            leader.write(2)
            await eventually(lambda: follower.replica.log_end_offset == 2)
            fetchers = follower.replicas.fetchers
            assert fetchers.followed() == {("t", 0): 0}
            follower.apply(image.apply(RemoveTopicRecord(TOPIC_ID)))
            assert fetchers.followed() == {}
            assert follower.replicas.replica("t", 0) is None
            await eventually(
                lambda: (
                    not any(
                        task.get_name().startswith("replica-fetcher-")
                        for task in asyncio.all_tasks()
                    )
                )
            )
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(run())


def test_a_leader_that_registers_at_another_address_is_fetched_from_there(tmp_path) -> None:
    async def run() -> None:
        nodes, image = await cluster(tmp_path, 2)
        leader, follower = nodes
        try:
            leader.write(2)
            await eventually(lambda: follower.replica.log_end_offset == 2)
            await leader.move()
            moved = image.apply(leader.registration(epoch=2))
            leader.apply(moved)
            follower.apply(moved)
            leader.write(3)
            await eventually(lambda: follower.replica.log_end_offset == 5)
            assert follower.everything() == leader.everything()
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(run())


def test_a_producers_retry_after_failover_is_answered_at_its_original_offsets(tmp_path) -> None:
    async def run() -> None:
        nodes, image = await cluster(tmp_path, 2)
        leader, follower = nodes
        try:
            leader.write(1)
            sent = make_batch([b"once"], producer_id=9, producer_epoch=0, base_sequence=0)
            leader.replica.append(sent, validate_produced(sent), leader.clock.now_ms())
            await eventually(lambda: follower.replica.log_end_offset == 2)
            moved = image.apply(PartitionChangeRecord(0, TOPIC_ID, isr=(1,), leader=1))
            follower.apply(moved)  # the producer never heard its ack and retries here
            with pytest.raises(DuplicateBatch) as duplicate:
                follower.replica.append(sent, validate_produced(sent), leader.clock.now_ms())
            assert (duplicate.value.base_offset, duplicate.value.last_offset) == (1, 1)
            assert follower.replica.log_end_offset == 2
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(run())


def test_a_waiting_fetch_is_answered_at_once_when_its_leader_moves(tmp_path) -> None:
    """A consumer's long poll on the old leader ends with NOT_LEADER_OR_FOLLOWER as soon as
    the image moves the leadership, not when its max_wait runs out (Kafka's delayed fetch)."""

    async def run() -> None:
        (leader,), image = await cluster(tmp_path, 1, replicas=2)
        client = KafkaClient("127.0.0.1", leader.port)
        try:
            patient = dataclasses.replace(
                replica_fetch(-1, 0), max_wait=datetime.timedelta(seconds=60)
            )
            waiting = asyncio.ensure_future(client.request(patient, timeout_s=90))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # nothing to read: it waits
            leader.apply(image.apply(PartitionChangeRecord(0, TOPIC_ID, leader=1)))
            answer = await asyncio.wait_for(waiting, timeout=10)
            partition = answer.responses[0].partitions[0]
            assert partition.error_code == ErrorCode.not_leader_or_follower
        finally:
            await client.close()
            await leader.stop()

    asyncio.run(run())
