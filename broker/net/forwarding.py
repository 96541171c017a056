"""A broker's calls to the active controller, and the controller a cluster broker's handlers use.

:class:`ControllerChannel` sends a request to the active controller over its CONTROLLER
listener: the node the Raft runtime names as leader, or each voter in turn while none is
known. A connection failure or a ``NOT_CONTROLLER`` answer (the controller moved) is retried
after a short backoff until the request's deadline, as Kafka's ``NodeToControllerChannel``
does; any other answer is returned as it is.

:class:`RemoteController` is what the client handlers call in cluster mode (it satisfies
``broker.controller.api.ControllerApi``, as the single node's ``LocalController`` does):
CreateTopics, CreatePartitions and DeleteTopics (from the admin APIs or Metadata's
auto-create), AlterConfigs, IncrementalAlterConfigs, ElectLeaders and AllocateProducerIds
are forwarded (KIP-590) and, once the controller has answered, it waits, bounded, until this
node's own image shows the change, so a client that asks this broker for Metadata (or
DescribeConfigs) right after sees what it just did.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kio.schema.allocate_producer_ids.v0.request import AllocateProducerIdsRequest
from kio.schema.alter_configs.v2 import request as legacy_alter
from kio.schema.create_partitions.v3 import request as create_partitions
from kio.schema.create_topics.v7 import request as create_topics
from kio.schema.delete_topics.v6 import request as delete_topics
from kio.schema.elect_leaders.v2 import request as elect_leaders
from kio.schema.errors import ErrorCode
from kio.schema.incremental_alter_configs.v1 import request as incremental_alter
from kio.static.primitive import i8

from broker.clock import Clock, sleep
from broker.controller.configs import ConfigAnswer, ConfigChange, alter_configs
from broker.controller.elections import ElectionAnswer, ElectionType
from broker.controller.topics import CreatedTopic, NewTopic, PartitionsIncrease
from broker.metadata.image import MetadataImage, TopicImage
from broker.metadata.publisher import MetadataPublisher
from broker.metadata.topics import TopicError
from broker.net.client import ClientError, NodeClients

log = logging.getLogger("broker.net")

RETRY_BACKOFF_S = 0.1  # Kafka's retry.backoff.ms
REQUEST_TIMEOUT_S = 30.0  # Kafka's request.timeout.ms for forwarded admin requests
IMAGE_WAIT_S = 10.0  # how long a forwarded change may take to reach this node's image


class ControllerUnavailable(Exception):
    """No active controller answered before the deadline."""


def _not_controller(answer: Any) -> bool:
    """Whether the answer says the node asked is not the active controller (top-level error,
    or every per-topic error of a topic API)."""
    if getattr(answer, "error_code", None) == ErrorCode.not_controller:
        return True
    for name in ("topics", "responses", "results"):
        items = getattr(answer, name, None)
        if items:  # per-topic answers; AlterPartition's topics carry none (theirs is on top)
            codes = [getattr(item, "error_code", None) for item in items]
            return all(code == ErrorCode.not_controller for code in codes)
    return False


class ControllerChannel:
    def __init__(
        self,
        clients: NodeClients,
        voters: Sequence[int],
        leader_id: Callable[[], int],
        clock: Clock,
    ) -> None:
        """``clients``: one per voter, at its CONTROLLER listener; ``leader_id``: the Raft
        runtime's current leader (-1 while none is known)."""
        self._clients = clients
        self._voters = sorted(voters)
        self._leader_id = leader_id
        self._clock = clock
        self._next_voter = 0

    def _target(self) -> int:
        leader = self._leader_id()
        if leader in self._voters:
            return leader
        self._next_voter = (self._next_voter + 1) % len(self._voters)
        return self._voters[self._next_voter]

    async def send(self, body: Any, *, timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        """``body`` answered by the active controller. Raises ControllerUnavailable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise ControllerUnavailable(
                    f"no active controller answered {type(body).__name__} within {timeout_s:g} s"
                )
            target = self._target()
            try:
                answer = await self._clients.get(target).request(body, timeout_s=left)
            except ClientError as err:
                log.debug("controller %d unreachable: %s", target, err)
            else:
                if not _not_controller(answer):
                    return answer
            await sleep(self._clock, min(RETRY_BACKOFF_S, max(left, 0)))

    async def close(self) -> None:
        await self._clients.close()


class RemoteController:
    """The controller as a cluster broker's handlers see it: the active controller, elsewhere."""

    def __init__(
        self,
        channel: ControllerChannel,
        publisher: MetadataPublisher,
        broker_epoch: Callable[[], int],
        node_id: int,
        leader_id: Callable[[], int],
    ) -> None:
        self._channel = channel
        self._publisher = publisher
        self._broker_epoch = broker_epoch
        self._node_id = node_id
        self._leader_id = leader_id
        self.creating: dict[str, None] = {}
        self.deleting: dict[str, None] = {}
        self._producer_ids = range(0)  # what is left of this broker's block
        self._allocating = asyncio.Lock()

    @property
    def controller_id(self) -> int:
        """The active controller when clients can reach it (a combined node, an unfenced
        broker); otherwise an unfenced broker, as Kafka's KRaft brokers name a random alive
        broker: clients send admin requests to the "controller", and a dedicated controller
        has no listener for them. -1 while no broker is unfenced."""
        leader = self._leader_id()
        brokers = self._publisher.image.brokers
        if leader in brokers and not brokers[leader].fenced:
            return leader
        alive = [broker.id for broker in brokers.values() if not broker.fenced]
        return random.choice(alive) if alive else -1

    @property
    def image(self) -> MetadataImage:
        return self._publisher.image

    async def create_topic(self, topic: NewTopic, *, validate_only: bool = False) -> CreatedTopic:
        request = create_topics.CreateTopicsRequest(
            topics=(
                create_topics.CreatableTopic(
                    name=topic.name,
                    num_partitions=topic.num_partitions if not topic.assignments else -1,
                    replication_factor=topic.replication_factor if not topic.assignments else -1,
                    assignments=tuple(
                        create_topics.CreatableReplicaAssignment(
                            partition_index=index, broker_ids=tuple(brokers)
                        )
                        for index, brokers in sorted(topic.assignments.items())
                    ),
                    configs=tuple(
                        create_topics.CreatableTopicConfig(name=name, value=value)
                        for name, value in topic.configs.items()
                    ),
                ),
            ),
            timeout=datetime.timedelta(seconds=REQUEST_TIMEOUT_S),
            validate_only=validate_only,
        )
        self.creating[topic.name] = None
        try:
            answer = (await self._send(request)).topics[0]
            _raise_if_refused(answer)
            created = CreatedTopic(
                topic.name,
                ErrorCode.none,
                topic_id=answer.topic_id,
                num_partitions=answer.num_partitions,
                replication_factor=answer.replication_factor,
            )
            if not validate_only:
                await self._seen(
                    f"topic {topic.name!r}",
                    lambda image: _has_partitions(
                        image.topics_by_id.get(answer.topic_id), answer.num_partitions
                    ),
                )
            return created
        finally:
            del self.creating[topic.name]

    async def add_partitions(
        self, increase: PartitionsIncrease, *, validate_only: bool = False
    ) -> None:
        assignments = increase.assignments
        request = create_partitions.CreatePartitionsRequest(
            topics=(
                create_partitions.CreatePartitionsTopic(
                    name=increase.name,
                    count=increase.count,
                    assignments=None
                    if assignments is None
                    else tuple(
                        create_partitions.CreatePartitionsAssignment(broker_ids=tuple(brokers))
                        for brokers in assignments
                    ),
                ),
            ),
            timeout=datetime.timedelta(seconds=REQUEST_TIMEOUT_S),
            validate_only=validate_only,
        )
        _raise_if_refused((await self._send(request)).results[0])
        if not validate_only:
            await self._seen(
                f"partitions of {increase.name!r}",
                lambda image: _has_partitions(image.topics.get(increase.name), increase.count),
            )

    async def delete_topic(self, name: str) -> TopicImage:
        known = self._publisher.image.topics.get(name)
        request = delete_topics.DeleteTopicsRequest(
            topics=(delete_topics.DeleteTopicState(name=name, topic_id=None),),
            timeout=datetime.timedelta(seconds=REQUEST_TIMEOUT_S),
        )
        self.deleting[name] = None
        try:
            answer = (await self._send(request)).responses[0]
            _raise_if_refused(answer)
            topic_id = answer.topic_id or (known.topic_id if known else uuid.UUID(int=0))
            await self._seen(
                f"deletion of {name!r}", lambda image: topic_id not in image.topics_by_id
            )
        finally:
            del self.deleting[name]
        return known if known is not None else TopicImage(name, topic_id)

    async def allocate_producer_id(self) -> tuple[ErrorCode, int]:
        """The next id of this broker's block, asking the controller for a new block when it
        is used up (Kafka's RPCProducerIdManager)."""
        async with self._allocating:
            if not self._producer_ids:
                request = AllocateProducerIdsRequest(
                    broker_id=self._node_id, broker_epoch=self._broker_epoch()
                )
                try:
                    answer = await self._channel.send(request)
                except ControllerUnavailable as err:
                    log.warning("cannot allocate producer ids: %s", err)
                    return ErrorCode.coordinator_load_in_progress, -1
                if answer.error_code != ErrorCode.none:
                    return answer.error_code, -1
                start = answer.producer_id_start
                self._producer_ids = range(start, start + answer.producer_id_len)
            producer_id, self._producer_ids = self._producer_ids[0], self._producer_ids[1:]
            return ErrorCode.none, producer_id

    async def elect_leaders(
        self, election_type: ElectionType, partitions: Iterable[tuple[str, int]] | None
    ) -> list[ElectionAnswer]:
        by_topic: dict[str, list[int]] = {}
        for topic, index in partitions if partitions is not None else ():
            by_topic.setdefault(topic, []).append(index)
        request = elect_leaders.ElectLeadersRequest(
            election_type=election_type,
            topic_partitions=None
            if partitions is None
            else tuple(
                elect_leaders.TopicPartitions(topic=topic, partitions=tuple(indexes))
                for topic, indexes in by_topic.items()
            ),
            timeout=datetime.timedelta(seconds=REQUEST_TIMEOUT_S),
        )
        answer = await self._send(request)
        if answer.error_code != ErrorCode.none:
            raise TopicError(answer.error_code, answer.error_code.name)
        answers = [
            ElectionAnswer(result.topic, partition.partition_id, partition.error_code,
                           partition.error_message)
            for result in answer.replica_election_results
            for partition in result.partition_result
        ]  # fmt: skip
        elected = [(a.topic, a.partition) for a in answers if a.error_code == ErrorCode.none]
        if elected:
            await self._seen(
                "elected leaders",
                lambda image: all(_elected(image, election_type, *p) for p in elected),
            )
        return answers

    async def alter_configs(
        self, changes: Sequence[ConfigChange], *, validate_only: bool = False
    ) -> list[ConfigAnswer]:
        """Forward as IncrementalAlterConfigs, or AlterConfigs when ``changes`` replace whole
        sets, then wait until this node's image holds what the accepted ones set."""
        if not changes:
            return []
        answer = await self._send(_config_request(changes, validate_only))
        answers = [
            ConfigAnswer(r.resource_type, r.resource_name, r.error_code, r.error_message)
            for r in answer.responses
        ]
        accepted = [
            change
            for change, result in zip(changes, answers, strict=True)
            if result.error_code == ErrorCode.none
        ]
        if accepted and not validate_only:
            # What this node's image holds once it has the change: the same decision here.
            wanted = self.image.apply_all(alter_configs(self.image, accepted).records).configs
            keys = [(change.resource_type, change.resource_name) for change in accepted]
            await self._seen(
                "config change",
                lambda image: all(image.configs.get(k, {}) == wanted.get(k, {}) for k in keys),
            )
        return answers

    async def _send(self, request: Any) -> Any:
        try:
            return await self._channel.send(request)
        except ControllerUnavailable as err:
            # Kafka's forwarding answers REQUEST_TIMED_OUT when the controller cannot be had.
            raise TopicError(ErrorCode.request_timed_out, str(err)) from err

    async def _seen(self, what: str, shown: Callable[[MetadataImage], bool]) -> None:
        if not await self._publisher.wait_for(lambda p: shown(p.image), IMAGE_WAIT_S):
            log.warning(
                "the controller committed the %s, but this broker's image has not shown it "
                "after %g s",
                what,
                IMAGE_WAIT_S,
            )


def _elected(image: MetadataImage, election_type: ElectionType, topic: str, index: int) -> bool:
    """Whether ``image`` shows the election of that partition's leader done."""
    found = image.topics.get(topic)
    partition = None if found is None else found.partitions.get(index)
    if partition is None:
        return True  # deleted meanwhile: nothing more to wait for
    if election_type is ElectionType.PREFERRED:
        return partition.leader == partition.replicas[0]
    return partition.leader >= 0


def _has_partitions(topic: TopicImage | None, count: int) -> bool:
    return topic is not None and len(topic.partitions) >= count


def _raise_if_refused(answer: Any) -> None:
    if answer.error_code != ErrorCode.none:
        raise TopicError(answer.error_code, answer.error_message or answer.error_code.name)


def _config_request(changes: Sequence[ConfigChange], validate_only: bool) -> Any:
    """The forwarded request for ``changes``: AlterConfigs if they replace whole sets."""
    if changes[0].replace:
        return legacy_alter.AlterConfigsRequest(
            resources=tuple(
                legacy_alter.AlterConfigsResource(
                    resource_type=i8(change.resource_type),
                    resource_name=change.resource_name,
                    configs=tuple(
                        legacy_alter.AlterableConfig(name=op.name, value=op.value)
                        for op in change.ops
                    ),
                )
                for change in changes
            ),
            validate_only=validate_only,
        )
    return incremental_alter.IncrementalAlterConfigsRequest(
        resources=tuple(
            incremental_alter.AlterConfigsResource(
                resource_type=i8(change.resource_type),
                resource_name=change.resource_name,
                configs=tuple(
                    incremental_alter.AlterableConfig(
                        name=op.name, config_operation=i8(op.op), value=op.value
                    )
                    for op in change.ops
                ),
            )
            for change in changes
        ),
        validate_only=validate_only,
    )
