"""Metadata's auto-create in a cluster: a topic the controller has already created, but this
broker's image does not show yet, is answered LEADER_NOT_AVAILABLE (retriable), as Kafka
answers a topic whose creation it has asked for, not TOPIC_ALREADY_EXISTS (which librdkafka
reports to the application as the topic's error)."""

from __future__ import annotations

import asyncio

from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.metadata.v12.response import MetadataResponse
from kio.serial import entity_reader

from broker.clock import ManualClock
from broker.config import BrokerConfig
from broker.controller.topics import CreatedTopic, NewTopic, PartitionsIncrease
from broker.metadata.cache import MetadataCache
from broker.metadata.image import MetadataImage, TopicImage
from broker.metadata.topics import TopicError
from broker.net.context import Context
from broker.net.handlers import metadata
from broker.protocol.codec import Request


class ControllerThatHasIt:
    """The active controller's answer when the topic exists there already."""

    controller_id = 0
    creating: frozenset[str] = frozenset()
    deleting: frozenset[str] = frozenset()

    async def create_topic(self, topic: NewTopic, *, validate_only: bool = False) -> CreatedTopic:
        raise TopicError(ErrorCode.topic_already_exists, f"Topic '{topic.name}' already exists.")

    async def add_partitions(self, increase: PartitionsIncrease, *, validate_only=False) -> None:
        raise AssertionError("not asked")

    async def delete_topic(self, name: str) -> TopicImage:
        raise AssertionError("not asked")

    async def allocate_producer_id(self) -> tuple[ErrorCode, int]:
        raise AssertionError("not asked")


def test_a_topic_created_elsewhere_but_not_yet_seen_here_is_leader_not_available():
    context = Context(
        config=BrokerConfig(),
        clock=ManualClock(),
        metadata=MetadataCache("cluster", MetadataImage()),
        replicas=None,  # type: ignore[arg-type]  # Metadata reads only the image
        controller=ControllerThatHasIt(),
        groups=None,  # type: ignore[arg-type]
        api_keys=(),
    )
    body = MetadataRequest(
        topics=(MetadataRequestTopic(name="t", topic_id=None),),
        allow_auto_topic_creation=True,
        include_topic_authorized_operations=False,
    )
    frame = asyncio.run(metadata.handle(context, Request(3, 12, 7, "test", body)))
    assert isinstance(frame, bytes)
    payload = memoryview(frame)[4:]
    _, used = entity_reader(MetadataResponse.__header_schema__)(payload, 0)
    answer, _ = entity_reader(MetadataResponse)(payload, used)
    (topic,) = answer.topics
    assert (topic.name, topic.error_code) == ("t", ErrorCode.leader_not_available)
