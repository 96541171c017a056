"""ISR changes go to the controller as AlterPartition, on a manual clock: the periodic pass
drops a follower that lagged for replica.lag.time.max.ms, a follower that caught up is added
on its fetch, only one change per partition is in flight, a fenced broker never joins, and
refusals and lost requests are handled as Kafka handles them. The controller here runs the
project's own AlterPartition rule (broker.controller.isr) over a real image; one test sends
through the CONTROLLER listener's AlterPartition handler and the quorum controller."""

from __future__ import annotations

import asyncio
import datetime
import io
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from kio.schema.alter_partition.v3.request import AlterPartitionRequest
from kio.schema.alter_partition.v3.response import (
    AlterPartitionResponse,
    PartitionData,
    TopicData,
)
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i32, i32Timedelta

from broker.clock import ManualClock
from broker.controller.isr import IsrChange, alter_partition
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    FenceBrokerRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)
from broker.net.controller_handlers import CONTROLLER_REGISTRY, ControllerContext
from broker.protocol.batch import validate_produced
from broker.protocol.codec import build, encode_response, read_request
from broker.replica.alter_partition import RETRY_BACKOFF_MS, IsrUpdater
from broker.replica.manager import ReplicaManager
from broker.replica.replica import Replica
from broker.storage import LogConfig
from broker.storage.manager import LogManager
from tests.support.batches import make_batch
from tests.unit.controller.test_controller_handlers import call, join, new_topic
from tests.unit.controller.test_controller_handlers import context as controller_context

ME = 1
TOPIC_ID = uuid.UUID(int=5)
START_MS = 1_700_000_000_000
MAX_LAG_MS = 5_000


def cluster_image() -> MetadataImage:
    """Brokers 1, 2, 3 registered and unfenced; topic t with one partition on all three,
    led by 1 with the full ISR."""
    brokers = [
        record
        for node in (1, 2, 3)
        for record in (
            RegisterBrokerRecord(node, uuid.UUID(int=node), 10 + node),
            UnfenceBrokerRecord(node, 10 + node),
        )
    ]
    return MetadataImage().apply_all(
        [
            *brokers,
            TopicRecord("t", TOPIC_ID),
            PartitionRecord(0, TOPIC_ID, (1, 2, 3), (1, 2, 3), 1),
        ]
    )


class Controller:
    """Answers AlterPartition with the controller's own rule and keeps the image it leads
    to; ``hold`` keeps answers back until set, ``fail`` makes the next sends fail,
    ``refuse_with`` refuses every partition with that error."""

    def __init__(self, image: MetadataImage) -> None:
        self.image = image
        self.requests: list[AlterPartitionRequest] = []
        self.hold: asyncio.Event | None = None
        self.fail = 0
        self.refuse_with: ErrorCode | None = None

    async def send(self, request: AlterPartitionRequest) -> AlterPartitionResponse:
        self.requests.append(request)
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            self.fail -= 1
            raise ConnectionResetError("the controller went away")
        changes = [
            IsrChange(
                topic.topic_id,
                part.partition_index,
                part.leader_epoch,
                part.partition_epoch,
                tuple(broker.broker_id for broker in part.new_isr_with_epochs),
            )
            for topic in request.topics
            for part in topic.partitions
        ]
        result = alter_partition(self.image, request.broker_id, request.broker_epoch, changes)
        answers = result.answer.partitions
        if self.refuse_with is None:
            self.image = self.image.apply_all(result.records)
        else:  # refused: nothing applied
            answers = [replace(a, error_code=self.refuse_with) for a in answers]
        return AlterPartitionResponse(
            throttle_time=i32Timedelta.parse(datetime.timedelta(0)),
            error_code=result.answer.error_code,
            topics=tuple(
                TopicData(
                    topic_id=topic_id,
                    partitions=tuple(
                        PartitionData(
                            partition_index=i32(a.partition_id),
                            error_code=a.error_code,
                            leader_id=i32(a.leader_id),
                            leader_epoch=i32(a.leader_epoch),
                            isr=tuple(i32(node) for node in a.isr),
                            partition_epoch=i32(a.partition_epoch),
                        )
                        for a in answers
                        if a.topic_id == topic_id
                    ),
                )
                for topic_id in {a.topic_id for a in answers}
            ),
        )


class Node:
    """Node 1's replica manager and ISR updater, following the controller's image."""

    def __init__(self, root: Path) -> None:
        self.clock = ManualClock(START_MS)
        self.controller = Controller(cluster_image())
        self.image = MetadataImage()
        self.updater = IsrUpdater(
            ME, self.clock, self.controller.send, lambda: self.image, MAX_LAG_MS
        )
        self.replicas = ReplicaManager(
            LogManager(root),
            ME,
            LogConfig(),
            clock=self.clock,
            on_isr_candidate=self.updater.expand,
        )
        self.catch_up_image()

    def catch_up_image(self) -> None:
        """The controller's image reaches this node (as the metadata log would bring it)."""
        old, self.image = self.image, self.controller.image
        self.replicas.apply(old, self.image)

    @property
    def partition(self) -> Replica:
        replica = self.replicas.replica("t", 0)
        assert replica is not None
        return replica

    def produce(self, records: int = 1) -> None:
        batch = make_batch([b"v"] * records)
        self.partition.append(batch, validate_produced(batch), START_MS)

    def lag_pass(self) -> None:
        self.updater.isr_pass(self.replicas.all_replicas())

    def close(self) -> None:
        self.replicas.close()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def run(root: Path, scenario: Callable[[Node], Coroutine[Any, Any, None]]) -> None:
    node = Node(root)

    async def main() -> None:
        try:
            await scenario(node)
        finally:
            await node.updater.close()

    try:
        asyncio.run(main())
    finally:
        node.close()


def test_a_follower_lagging_past_the_limit_is_dropped_and_the_high_watermark_moves_on(
    tmp_path,
) -> None:
    async def scenario(node: Node) -> None:
        node.produce(2)
        node.partition.update_follower(2, 2)
        node.clock.advance(MAX_LAG_MS)
        node.lag_pass()
        await settle()
        assert node.controller.requests == []  # 3 is at the limit, not past it
        assert node.partition.high_watermark == 0  # 3 holds nothing: acks=all waits
        node.clock.advance(1)
        node.partition.update_follower(2, 2)
        node.lag_pass()
        await settle()
        (request,) = node.controller.requests
        (topic,) = request.topics
        (sent,) = topic.partitions
        assert (request.broker_id, request.broker_epoch) == (1, 11)
        assert topic.topic_id == TOPIC_ID
        assert [b.broker_id for b in sent.new_isr_with_epochs] == [1, 2]
        assert (sent.leader_epoch, sent.partition_epoch) == (0, 0)
        assert node.partition.isr == {1, 2}
        assert node.partition.partition_epoch == 1
        assert node.partition.high_watermark == 2
        node.catch_up_image()  # the image that carries the change agrees
        assert node.controller.image.topics["t"].partitions[0].isr == (1, 2)
        assert (node.partition.isr, node.partition.partition_epoch) == ({1, 2}, 1)

    run(tmp_path, scenario)


def test_a_follower_that_catches_up_is_added_on_its_fetch(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        node.produce(3)
        node.partition.update_follower(2, 3)
        node.clock.advance(MAX_LAG_MS + 1)
        node.lag_pass()
        await settle()
        assert node.partition.isr == {1, 2}
        node.partition.update_follower(3, 2)
        await settle()
        assert len(node.controller.requests) == 1  # not caught up yet
        node.partition.update_follower(3, 3)  # a fetch, not the periodic pass
        await settle()
        assert len(node.controller.requests) == 2
        assert node.partition.isr == {1, 2, 3}
        assert node.partition.partition_epoch == 2

    run(tmp_path, scenario)


def test_one_change_per_partition_is_in_flight(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        node.produce()
        node.controller.hold = asyncio.Event()
        node.clock.advance(MAX_LAG_MS + 1)
        node.lag_pass()
        await settle()
        node.clock.advance(MAX_LAG_MS)
        node.lag_pass()
        node.partition.update_follower(2, 1)
        await settle()
        assert len(node.controller.requests) == 1
        assert node.partition.maximal_isr == {1, 2, 3}  # still waiting for the answer
        node.controller.hold.set()
        await settle()
        assert node.partition.isr == {1}
        node.lag_pass()  # 2 caught up meanwhile: the next change may go
        await settle()
        assert len(node.controller.requests) == 2
        assert node.partition.isr == {1, 2}

    run(tmp_path, scenario)


def test_a_fenced_broker_never_joins(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        node.produce()
        node.clock.advance(MAX_LAG_MS + 1)
        node.lag_pass()
        await settle()
        assert node.partition.isr == {1}
        node.controller.image = node.controller.image.apply(FenceBrokerRecord(3, 13))
        node.catch_up_image()
        node.partition.update_follower(2, 1)
        node.partition.update_follower(3, 1)
        await settle()
        assert node.partition.isr == {1, 2}
        node.lag_pass()
        await settle()
        assert node.partition.isr == {1, 2}
        assert len(node.controller.requests) == 2

    run(tmp_path, scenario)


def test_a_stale_partition_epoch_waits_for_the_next_image(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        node.produce()
        # The controller moved on (2 left the ISR) before this node saw it.
        node.controller.image = node.controller.image.apply_all(
            alter_partition(
                node.controller.image, 1, 11, [IsrChange(TOPIC_ID, 0, 0, 0, (1, 3))]
            ).records
        )
        node.clock.advance(MAX_LAG_MS + 1)
        node.lag_pass()
        await settle()
        assert node.partition.pending_isr is not None  # INVALID_UPDATE_VERSION: no retry
        node.clock.advance(10 * RETRY_BACKOFF_MS)
        node.lag_pass()
        await settle()
        assert len(node.controller.requests) == 1
        node.catch_up_image()
        assert (node.partition.isr, node.partition.pending_isr) == ({1, 3}, None)
        node.lag_pass()
        await settle()
        assert node.partition.isr == {1}

    run(tmp_path, scenario)


def test_an_ineligible_replica_answer_returns_to_the_committed_isr(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        node.produce()
        node.controller.refuse_with = ErrorCode.ineligible_replica
        node.clock.advance(MAX_LAG_MS + 1)
        node.lag_pass()
        await settle()
        assert (node.partition.isr, node.partition.pending_isr) == ({1, 2, 3}, None)
        node.controller.refuse_with = None
        node.lag_pass()  # may propose again at the next pass
        await settle()
        assert node.partition.isr == {1}

    run(tmp_path, scenario)


def test_a_lost_request_is_sent_again_after_a_pause(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        node.produce()
        node.controller.fail = 1
        node.clock.advance(MAX_LAG_MS + 1)
        node.lag_pass()
        await settle()
        assert len(node.controller.requests) == 1
        assert node.partition.isr == {1, 2, 3}
        node.clock.advance(RETRY_BACKOFF_MS)
        await settle()
        assert len(node.controller.requests) == 2
        assert node.partition.isr == {1}

    run(tmp_path, scenario)


def through_the_controller_listener(
    controller: ControllerContext,
) -> Callable[[AlterPartitionRequest], Coroutine[Any, Any, AlterPartitionResponse]]:
    """A sender that passes the request as bytes through the CONTROLLER listener's
    AlterPartition handler, and reads its answer back as a node client does."""

    async def send(request: AlterPartitionRequest) -> AlterPartitionResponse:
        header = request.__header_schema__
        fields = {
            "request_api_key": 56,
            "request_api_version": 3,
            "correlation_id": 9,
            "client_id": "node-0",
        }
        out = io.BytesIO()
        entity_writer(header)(out, build(header, fields))
        entity_writer(AlterPartitionRequest)(out, request)
        spec = CONTROLLER_REGISTRY.get(56)
        assert spec is not None
        answer = await spec.handler(controller, read_request(out.getvalue()))  # type: ignore[arg-type]
        payload = encode_response(56, 3, 9, answer)[4:]  # after the size
        _, used = entity_reader(AlterPartitionResponse.__header_schema__)(payload, 0)
        response, _ = entity_reader(AlterPartitionResponse)(payload, used)
        return response

    return send


def test_the_quorum_controller_applies_what_the_updater_sends(tmp_path) -> None:
    async def scenario() -> None:
        controller = controller_context()  # in the loop: it starts tasks once active
        for node in (0, 1):
            await join(controller, node)
        topic = new_topic("t", -1, -1, assignments=[{"partition_index": 0, "broker_ids": [0, 1]}])
        await call(controller, 19, 7, {"topics": [topic], "timeout": 1000, "validate_only": False})
        clock = ManualClock(START_MS)
        image = controller.controller.image
        send = through_the_controller_listener(controller)
        updater = IsrUpdater(0, clock, send, lambda: image, MAX_LAG_MS)
        replicas = ReplicaManager(
            LogManager(tmp_path), 0, LogConfig(), clock=clock, on_isr_candidate=updater.expand
        )
        try:
            replicas.load(image, frozenset())
            replicas.apply(MetadataImage(), image)
            partition = replicas.replica("t", 0)
            assert partition is not None and partition.isr == {0, 1}
            batch = make_batch([b"v"])
            partition.append(batch, validate_produced(batch), START_MS)
            clock.advance(MAX_LAG_MS + 1)
            updater.isr_pass(replicas.all_replicas())
            await settle()
            assert (partition.isr, partition.partition_epoch) == ({0}, 1)
            assert controller.controller.image.topics["t"].partitions[0].isr == (0,)
            partition.update_follower(1, 1)  # caught up: back in
            await settle()
            assert (partition.isr, partition.partition_epoch) == ({0, 1}, 2)
            assert controller.controller.image.topics["t"].partitions[0].isr == (0, 1)
        finally:
            await updater.close()
            replicas.close()

    asyncio.run(scenario())
