"""A controller driven by hand: an image, leases, a log offset and a manual clock.

Results are committed by applying their records to the image, as the runtime will do once
they are in ``__cluster_metadata``; nothing here decides anything the controller does not.
"""

from __future__ import annotations

import random
import uuid
from typing import TypeVar

from broker.controller.brokers import (
    BrokerHeartbeatAnswer,
    BrokerHeartbeatRequest,
    BrokerRegistrationAnswer,
    BrokerRegistrationRequest,
    Leases,
    fence_expired,
    heartbeat,
    register_broker,
)
from broker.controller.result import ControllerResult
from broker.controller.topics import CreatedTopic, NewTopic, create_topics
from broker.metadata.image import MetadataImage, PartitionRegistration

T = TypeVar("T")


class Harness:
    def __init__(self, seed: int = 0, *, unclean_default: bool = False) -> None:
        self.image = MetadataImage()
        # The controller's static unclean.leader.election.enable.
        self.unclean_default = unclean_default
        self.leases: Leases = {}
        self.next_offset = 0  # where the next record lands in the metadata log
        self.now_ms = 0
        self.rng = random.Random(seed)
        self.incarnations: dict[int, uuid.UUID] = {}

    def commit(self, result: ControllerResult[T]) -> T:
        self.image = self.image.apply_all(result.records)
        self.next_offset += len(result.records)
        return result.answer

    def register(
        self, broker_id: int, incarnation: uuid.UUID | None = None
    ) -> BrokerRegistrationAnswer:
        incarnation = incarnation or uuid.UUID(int=self.rng.getrandbits(128), version=4)
        request = BrokerRegistrationRequest(broker_id, incarnation)
        result, self.leases = register_broker(
            self.image,
            self.leases,
            request,
            now_ms=self.now_ms,
            next_offset=self.next_offset,
            unclean_default=self.unclean_default,
        )
        if result.answer.broker_epoch >= 0:
            self.incarnations[broker_id] = incarnation
        return self.commit(result)

    def heartbeat(
        self,
        broker_id: int,
        *,
        caught_up: bool = True,
        want_shut_down: bool = False,
        want_fence: bool = False,
        epoch: int | None = None,
    ) -> BrokerHeartbeatAnswer:
        broker = self.image.brokers.get(broker_id)
        broker_epoch = epoch if epoch is not None else (broker.epoch if broker else 0)
        # A caught-up broker has applied everything written so far; a lagging one has not
        # reached its own registration.
        offset = self.next_offset - 1 if caught_up else broker_epoch - 1
        request = BrokerHeartbeatRequest(
            broker_id, broker_epoch, offset, want_fence=want_fence, want_shut_down=want_shut_down
        )
        result, self.leases = heartbeat(
            self.image,
            self.leases,
            request,
            now_ms=self.now_ms,
            next_offset=self.next_offset,
            unclean_default=self.unclean_default,
        )
        return self.commit(result)

    def start(self, brokers: int) -> None:
        """Brokers 0..brokers-1 registered and unfenced."""
        for broker_id in range(brokers):
            self.register(broker_id)
        for broker_id in range(brokers):
            assert not self.heartbeat(broker_id).is_fenced

    def advance(self, ms: int) -> list[int]:
        """Move the clock on and fence whoever's lease ran out; returns them."""
        self.now_ms += ms
        expired = fence_expired(
            self.image, self.leases, now_ms=self.now_ms, unclean_default=self.unclean_default
        )
        return self.commit(expired)

    def create(
        self, name: str, partitions: int = -1, replication_factor: int = -1, **kw
    ) -> CreatedTopic:
        topic = NewTopic(name, partitions, replication_factor, **kw)
        (answer,) = self.commit(create_topics(self.image, [topic], rng=self.rng))
        return answer

    def partition(self, name: str, index: int = 0) -> PartitionRegistration:
        partition = self.image.partition(name, index)
        assert partition is not None
        return partition
