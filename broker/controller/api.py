"""What the client handlers need from a controller, whichever node it runs on.

A single node asks its own :class:`~broker.controller.local.LocalController`; a broker in a
cluster asks :class:`~broker.net.forwarding.RemoteController`, which forwards to the active
controller and returns once this node's image shows the change. Both satisfy
:class:`ControllerApi`, so CreateTopics, DeleteTopics, CreatePartitions, Metadata's
auto-create, InitProducerId, ElectLeaders, AlterConfigs and IncrementalAlterConfigs are
written once.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from typing import Protocol

from kio.schema.errors import ErrorCode

from broker.controller.configs import ConfigAnswer, ConfigChange
from broker.controller.elections import ElectionAnswer, ElectionType
from broker.controller.topics import CreatedTopic, NewTopic, PartitionsIncrease
from broker.metadata.image import TopicImage


class ControllerApi(Protocol):
    @property
    def controller_id(self) -> int:
        """The active controller's node id as Metadata and DescribeCluster name it (-1 while
        none is known)."""
        ...

    @property
    def creating(self) -> Container[str]:
        """Topics being created through this node right now."""
        ...

    @property
    def deleting(self) -> Container[str]:
        """Topics being deleted through this node right now."""
        ...

    async def create_topic(self, topic: NewTopic, *, validate_only: bool = False) -> CreatedTopic:
        """Create a topic (or only check that it could be). Raises TopicError."""
        ...

    async def add_partitions(
        self, increase: PartitionsIncrease, *, validate_only: bool = False
    ) -> None:
        """Grow a topic. Raises TopicError."""
        ...

    async def delete_topic(self, name: str) -> TopicImage:
        """Delete a topic; the answer is the topic as it was. Raises TopicError."""
        ...

    async def allocate_producer_id(self) -> tuple[ErrorCode, int]:
        """A producer id no other producer holds, or an error code and -1."""
        ...

    async def elect_leaders(
        self, election_type: ElectionType, partitions: Iterable[tuple[str, int]] | None
    ) -> list[ElectionAnswer]:
        """A preferred or unclean election for ``partitions`` (None: all), answered per
        partition as ``controller.elections.elect_leaders`` decides. Raises TopicError when
        no controller answers."""
        ...

    async def alter_configs(
        self, changes: Sequence[ConfigChange], *, validate_only: bool = False
    ) -> list[ConfigAnswer]:
        """AlterConfigs or IncrementalAlterConfigs (all of ``changes`` are one or the other),
        answered per resource as ``controller.configs.alter_configs`` decides; with
        ``validate_only`` nothing changes. Raises TopicError when no controller answers."""
        ...
