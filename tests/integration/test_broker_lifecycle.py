"""A broker's side of the cluster, in one process against a real controller: a one-voter
quorum (``RaftRuntime`` + ``QuorumController``) behind a real CONTROLLER listener, and a
broker's ``BrokerLifecycle``, ``ControllerChannel`` and ``RemoteController`` talking to it
over ``NodeClients``, with a ``MetadataPublisher`` as the broker's image."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from kio.schema.allocate_producer_ids.v0.request import AllocateProducerIdsRequest
from kio.schema.alter_partition.v3 import request as alter_partition
from kio.schema.errors import ErrorCode

from broker.clock import SystemClock
from broker.config import BrokerConfig
from broker.controller.quorum import QuorumController
from broker.controller.topics import NewTopic, PartitionsIncrease
from broker.lifecycle import BrokerLifecycle
from broker.metadata.publisher import MetadataPublisher
from broker.metadata.records import Endpoint
from broker.net.client import NodeClients
from broker.net.controller_handlers import CONTROLLER_REGISTRY, ControllerContext
from broker.net.forwarding import ControllerChannel, RemoteController
from broker.net.server import Server, bind
from broker.raft import QuorumConfig
from broker.raft.runtime import RaftRuntime
from broker.raft.store import metadata_log_dir

HOST = "127.0.0.1"
CONTROLLER, NOT_A_CONTROLLER, BROKER = 0, 5, 7
HEARTBEAT_MS = 50


class Quorum:
    """A one-voter quorum with its controller, and a node that runs no controller."""

    async def start(self, data_dir: Path) -> None:
        clock = SystemClock()
        listening = await bind(HOST, 0)
        self.port = listening.getsockname()[1]
        self.clients = NodeClients()
        self.raft = RaftRuntime(
            CONTROLLER, {CONTROLLER: (HOST, self.port)}, metadata_log_dir(data_dir), clock,
            QuorumConfig(), self.clients,
        )  # fmt: skip
        self.controller = QuorumController(CONTROLLER, self.raft, clock)
        context = ControllerContext(BrokerConfig(), clock, self.raft, self.controller, CONTROLLER)
        self.server = Server(context, CONTROLLER_REGISTRY, listening)
        await self.raft.start()
        self.server.start()
        # The other node answers everything a controller is asked with NOT_CONTROLLER.
        elsewhere = await bind(HOST, 0)
        self.elsewhere_port = elsewhere.getsockname()[1]
        idle = ControllerContext(BrokerConfig(), clock, self.raft, None, NOT_A_CONTROLLER)
        self.elsewhere = Server(idle, CONTROLLER_REGISTRY, elsewhere)
        self.elsewhere.start()

    async def stop(self) -> None:
        await self.elsewhere.stop()
        self.controller.stop()
        await self.raft.stop()
        await self.server.stop()
        await self.clients.close()


class Broker:
    def __init__(
        self, quorum: Quorum, leader: Callable[[], int], heartbeat_ms: int = HEARTBEAT_MS
    ) -> None:
        clock = SystemClock()
        self.publisher = MetadataPublisher()
        quorum.raft.subscribe(self.publisher.on_commit)  # the broker's own image
        endpoints = {
            CONTROLLER: (HOST, quorum.port),
            NOT_A_CONTROLLER: (HOST, quorum.elsewhere_port),
        }
        self.channel = ControllerChannel(NodeClients(endpoints), list(endpoints), leader, clock)
        self.lifecycle = BrokerLifecycle(
            node_id=BROKER,
            cluster_id="test-cluster",
            endpoints=(Endpoint("PLAINTEXT", HOST, 19092),),
            channel=self.channel,
            clock=clock,
            metadata_offset=lambda: self.publisher.offset,
            heartbeat_interval_ms=heartbeat_ms,
        )
        self.remote = RemoteController(
            self.channel, self.publisher, lambda: self.lifecycle.broker_epoch, BROKER, leader
        )


def run(tmp_path: Path, scenario: Callable[[Quorum], Awaitable[None]]) -> None:
    async def main() -> None:
        quorum = Quorum()
        await quorum.start(tmp_path)
        try:
            async with asyncio.timeout(30):
                await scenario(quorum)
        finally:
            await quorum.stop()

    asyncio.run(main())


def test_a_broker_registers_is_unfenced_on_catch_up_and_shuts_down_under_control(tmp_path):
    async def scenario(quorum: Quorum) -> None:
        broker = Broker(quorum, lambda: quorum.raft.leader_id)
        broker.lifecycle.start()
        await broker.lifecycle.wait_unfenced()
        registered = broker.publisher.image.brokers[BROKER]
        assert registered.epoch == broker.lifecycle.broker_epoch and not registered.fenced
        assert registered.endpoints == (Endpoint("PLAINTEXT", HOST, 19092),)
        await asyncio.sleep(HEARTBEAT_MS * 4 / 1000)  # heartbeats keep it unfenced
        assert not broker.publisher.image.brokers[BROKER].fenced
        assert await broker.lifecycle.controlled_shutdown(timeout_s=5)
        assert broker.lifecycle.fenced
        await broker.lifecycle.stop()
        await broker.channel.close()

    run(tmp_path, scenario)


def test_a_broker_catching_up_does_not_wait_for_the_heartbeat_interval(tmp_path):
    """As Kafka's BrokerLifecycleManager: a broker that has not caught up with the metadata
    log yet heartbeats again after 10 ms, whatever the interval, so it is unfenced as soon
    as it has."""

    async def scenario(quorum: Quorum) -> None:
        broker = Broker(quorum, lambda: quorum.raft.leader_id, heartbeat_ms=60_000)
        applied = broker.publisher
        reports = iter(range(3))  # its first three heartbeats report nothing applied yet
        broker.lifecycle._metadata_offset = lambda: (
            -1 if next(reports, None) is not None else applied.offset
        )
        broker.lifecycle.start()
        async with asyncio.timeout(10):
            await broker.lifecycle.wait_unfenced()
            assert await broker.lifecycle.controlled_shutdown(timeout_s=10)
        await broker.lifecycle.stop()
        await broker.channel.close()

    run(tmp_path, scenario)


def test_the_channel_asks_each_voter_until_the_controller_answers(tmp_path):
    async def scenario(quorum: Quorum) -> None:
        # No leader known yet: the first voter asked is the node that is not the controller.
        broker = Broker(quorum, lambda: -1)
        answer = await broker.channel.send(
            AllocateProducerIdsRequest(broker_id=BROKER, broker_epoch=-1), timeout_s=5
        )
        assert answer.error_code != ErrorCode.not_controller
        await broker.channel.close()

    run(tmp_path, scenario)


def test_the_channel_returns_an_alter_partition_answer_whose_topics_carry_no_error_code(tmp_path):
    """AlterPartition's answer has its error on top and per partition, none per topic: the
    channel reads it as the controller's answer, not as a failed send."""

    async def scenario(quorum: Quorum) -> None:
        broker = Broker(quorum, lambda: quorum.raft.leader_id)
        broker.lifecycle.start()
        await broker.lifecycle.wait_unfenced()  # a broker epoch the controller knows
        unknown = alter_partition.TopicData(
            topic_id=uuid.UUID(int=99),
            partitions=(
                alter_partition.PartitionData(
                    partition_index=0, leader_epoch=0, new_isr_with_epochs=(), partition_epoch=0
                ),
            ),
        )
        request = alter_partition.AlterPartitionRequest(
            broker_id=BROKER, broker_epoch=broker.lifecycle.broker_epoch, topics=(unknown,)
        )
        answer = await broker.channel.send(request, timeout_s=5)
        assert answer.error_code == ErrorCode.none
        [[partition]] = [topic.partitions for topic in answer.topics]
        assert partition.error_code == ErrorCode.unknown_topic_id
        await broker.lifecycle.stop()
        await broker.channel.close()

    run(tmp_path, scenario)


def test_forwarded_changes_are_in_the_brokers_image_when_they_answer(tmp_path):
    async def scenario(quorum: Quorum) -> None:
        broker = Broker(quorum, lambda: quorum.raft.leader_id)
        broker.lifecycle.start()
        await broker.lifecycle.wait_unfenced()
        created = await broker.remote.create_topic(NewTopic("t", 2, 1))
        assert broker.publisher.image.topics["t"].topic_id == created.topic_id
        await broker.remote.add_partitions(PartitionsIncrease("t", 3))
        assert len(broker.publisher.image.topics["t"].partitions) == 3
        assert (await broker.remote.delete_topic("t")).topic_id == created.topic_id
        assert "t" not in broker.publisher.image.topics
        ids = [await broker.remote.allocate_producer_id() for _ in range(3)]
        assert [code for code, _ in ids] == [ErrorCode.none] * 3
        first = ids[0][1]
        assert [producer_id for _, producer_id in ids] == [first, first + 1, first + 2]
        await broker.lifecycle.stop()
        await broker.channel.close()

    run(tmp_path, scenario)
