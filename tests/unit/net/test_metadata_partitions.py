"""Metadata's partitions in a cluster, as Kafka's brokers answer them: a replica on a broker
that is fenced, gone or without this listener is offline; a partition with no leader
elected is LEADER_NOT_AVAILABLE with no leader id, one whose leader lacks this listener
LISTENER_NOT_FOUND (v6+)."""

from __future__ import annotations

import asyncio
import uuid

from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.metadata.v12.response import MetadataResponse
from kio.serial import entity_reader

from broker.clock import ManualClock
from broker.config import BrokerConfig
from broker.metadata.cache import MetadataCache
from broker.metadata.image import MetadataImage
from broker.metadata.records import Endpoint, PartitionRecord, RegisterBrokerRecord, TopicRecord
from broker.net.context import Context
from broker.net.handlers import metadata
from broker.protocol.codec import Request
from tests.unit.net.test_metadata_auto_create import ControllerThatHasIt

TOPIC_ID = uuid.UUID(int=9)


def broker(broker_id: int, *, fenced: bool, listener: str = "PLAINTEXT") -> RegisterBrokerRecord:
    endpoint = Endpoint(listener, "127.0.0.1", 9092 + broker_id)
    return RegisterBrokerRecord(broker_id, uuid.uuid4(), 1, (endpoint,), fenced=fenced)


def test_offline_replicas_and_a_partition_without_a_leader():
    image = MetadataImage().apply_all([
        broker(0, fenced=False),
        broker(1, fenced=True),  # its session ran out
        broker(3, fenced=False, listener="OTHER"),  # no endpoint on the client listener
        # broker 2 is not registered at all
        TopicRecord("t", TOPIC_ID),
        PartitionRecord(0, TOPIC_ID, (0, 1, 2), (0,), leader=0),
        PartitionRecord(1, TOPIC_ID, (1, 0, 3), (1,), leader=-1, leader_epoch=4),
        PartitionRecord(2, TOPIC_ID, (3, 0), (3, 0), leader=3),
    ])  # fmt: skip
    context = Context(
        config=BrokerConfig(),
        clock=ManualClock(),
        metadata=MetadataCache("cluster", image),
        replicas=None,  # type: ignore[arg-type]  # Metadata reads only the image
        controller=ControllerThatHasIt(),
        groups=None,  # type: ignore[arg-type]
        api_keys=(),
    )
    body = MetadataRequest(
        topics=(MetadataRequestTopic(name="t", topic_id=None),),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    frame = asyncio.run(metadata.handle(context, Request(3, 12, 7, "test", body)))
    payload = memoryview(frame)[4:]
    _, used = entity_reader(MetadataResponse.__header_schema__)(payload, 0)
    answer, _ = entity_reader(MetadataResponse)(payload, used)
    assert [b.node_id for b in answer.brokers] == [0]
    (topic,) = answer.topics
    seen = {
        p.partition_index: (p.error_code, p.leader_id, p.leader_epoch, p.offline_replicas)
        for p in topic.partitions
    }
    assert seen == {
        0: (ErrorCode.none, 0, 0, (1, 2)),
        1: (ErrorCode.leader_not_available, -1, 4, (1, 3)),
        2: (ErrorCode.listener_not_found, -1, 0, (3,)),
    }
