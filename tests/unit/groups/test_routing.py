"""The coordinator split by ``__consumer_offsets`` partition, on a manual clock: node 1 holds
three offsets partitions beside node 2 and coordinates only the groups of those it leads;
writes wait for the ISR; a shard loads once its partition's high watermark reaches the log end
it had when this node became the leader, and is dropped when leadership moves away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from kio.schema.errors import ErrorCode as E

from broker.clock import ManualClock
from broker.groups import CommitEntry, CommittedOffset, GroupSettings, JoinResult, SyncResult
from broker.groups.routing import GroupCoordinators
from broker.groups.store import OFFSETS_TOPIC, partition_for
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    PartitionChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)
from broker.replica.manager import ReplicaManager
from broker.replica.replica import Replica
from broker.storage import LogConfig
from broker.storage.manager import LogManager

ME, OTHER = 1, 2
OFFSETS_ID = uuid.UUID(int=50)
START_MS = 1_700_000_000_000
COMMIT_TIMEOUT_MS = 1234  # offsets.commit.timeout.ms, not Kafka's 5000: the setting is used
SETTINGS = GroupSettings(initial_rebalance_delay_ms=0, offset_commit_timeout_ms=COMMIT_TIMEOUT_MS)


def group_in(partition: int, skip: int = 0) -> str:
    """A group id whose offsets partition (of 3) is ``partition`` (skipping ``skip``)."""
    found = (g for g in (f"g{i}" for i in range(100)) if partition_for(g, 3) == partition)
    return [*found][skip]


SHARED = group_in(0)  # led here, ISR {1, 2}: writes wait for node 2's fetch
ALSO_SHARED = group_in(0, skip=1)
THEIRS = group_in(1)  # led by node 2
MINE = group_in(2)  # led here alone: writes commit at once


def first_image() -> MetadataImage:
    brokers = [
        record
        for node in (ME, OTHER)
        for record in (
            RegisterBrokerRecord(node, uuid.UUID(int=node), 10 + node),
            UnfenceBrokerRecord(node, 10 + node),
        )
    ]
    return MetadataImage().apply_all(
        [
            *brokers,
            TopicRecord(OFFSETS_TOPIC, OFFSETS_ID),
            PartitionRecord(0, OFFSETS_ID, (ME, OTHER), (ME, OTHER), ME),
            PartitionRecord(1, OFFSETS_ID, (OTHER, ME), (OTHER, ME), OTHER),
            PartitionRecord(2, OFFSETS_ID, (ME,), (ME,), ME),
        ]
    )


class Node:
    """Node 1: its replica manager following an image, and its group coordinators."""

    def __init__(self, root: Path) -> None:
        self.clock = ManualClock(START_MS)
        self.replicas = ReplicaManager(LogManager(root), ME, LogConfig(), clock=self.clock)
        self.groups = GroupCoordinators(3, SETTINGS, self.clock)
        self.image = MetadataImage()

    def start(self) -> None:
        self.move_to(first_image())
        self.groups.attach(self.replicas.replicas_of(OFFSETS_TOPIC).values())
        self.replicas.observe(self.groups.on_role_change)

    def move_to(self, image: MetadataImage) -> None:
        old, self.image = self.image, image
        self.replicas.apply(old, image)

    def change(self, index: int, **fields: Any) -> None:
        self.move_to(self.image.apply(PartitionChangeRecord(index, OFFSETS_ID, **fields)))

    def partition(self, index: int) -> Replica:
        replica = self.replicas.replica(OFFSETS_TOPIC, index)
        assert replica is not None
        return replica

    def follower_fetches(self, index: int) -> None:
        """Node 2 fetches partition ``index`` up to this node's log end."""
        partition = self.partition(index)
        partition.update_follower(OTHER, partition.log_end_offset)

    def commit(self, group: str, offset: int) -> asyncio.Task[list[E]]:
        entry = CommitEntry("tweets", 0, offset, -1, "")
        return asyncio.get_running_loop().create_task(
            self.groups.commit(group, -1, "", None, [entry])
        )

    def join(self, group: str) -> asyncio.Task:
        return asyncio.get_running_loop().create_task(
            self.groups.join(
                group,
                "",
                None,
                "c",
                "/127.0.0.1",
                "consumer",
                [("range", b"")],
                10_000,
                10_000,
                False,
            )
        )

    def sync(self, group: str, leader: JoinResult, assignment: bytes) -> asyncio.Task[SyncResult]:
        """The group's only member, its leader, hands itself ``assignment``."""
        return asyncio.get_running_loop().create_task(
            self.groups.sync(
                group,
                leader.member_id,
                leader.generation_id,
                None,
                "consumer",
                leader.protocol_name,
                {leader.member_id: assignment},
            )
        )

    def committed(self, group: str) -> tuple[E, list[CommittedOffset]]:
        return self.groups.fetch(group, [("tweets", 0)])


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def run(root: Path, scenario: Callable[[Node], Coroutine[Any, Any, None]]) -> None:
    node = Node(root)

    async def main() -> None:
        node.start()
        try:
            await scenario(node)
        finally:
            node.groups.close()
            await settle()

    try:
        asyncio.run(main())
    finally:
        node.replicas.close()


def offset(value: int) -> list[CommittedOffset]:
    return [CommittedOffset("tweets", 0, value, -1, "")]


NOTHING = offset(-1)


def test_only_the_groups_of_partitions_led_here_are_coordinated_here(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        assert await node.commit(MINE, 5) == [E.none]
        assert node.committed(MINE) == (E.none, offset(5))
        joining = node.join(MINE)
        await settle()
        node.clock.advance(1)  # the (zero) initial rebalance delay
        await settle()
        assert joining.result().error_code == E.none

        assert await node.commit(THEIRS, 5) == [E.not_coordinator]
        assert node.committed(THEIRS) == (E.not_coordinator, [])
        assert (await node.join(THEIRS)).error_code == E.not_coordinator
        assert node.groups.heartbeat(THEIRS, "m", 1, None) == E.not_coordinator
        assert node.groups.leave(THEIRS, [("m", None)]).error_code == E.not_coordinator
        assert node.groups.describe(THEIRS).error_code == E.not_coordinator
        assert node.groups.delete([THEIRS, MINE]) == {THEIRS: E.not_coordinator,
                                                       MINE: E.non_empty_group}  # fmt: skip
        assert (await node.join("")).error_code == E.invalid_group_id
        error, listed = node.groups.list_groups()
        assert error == E.none and [g.group_id for g in listed] == [MINE]

    run(tmp_path, scenario)


def test_a_commit_is_answered_and_shown_once_the_isr_holds_it(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        waiting = node.commit(SHARED, 7)
        await settle()
        assert not waiting.done()
        assert node.committed(SHARED) == (E.none, NOTHING)  # not committed yet
        node.follower_fetches(0)
        await settle()
        assert waiting.result() == [E.none]
        assert node.committed(SHARED) == (E.none, offset(7))

        late = node.commit(SHARED, 8)  # node 2 stops fetching
        await settle()
        node.clock.advance(COMMIT_TIMEOUT_MS - 1)
        await settle()
        assert not late.done()
        node.clock.advance(1)
        await settle()
        # Kafka 4's CoordinatorRuntime fails the write with REQUEST_TIMED_OUT, which its
        # handleOperationException answers as COORDINATOR_NOT_AVAILABLE (the client retries).
        assert late.result() == [E.coordinator_not_available]
        assert node.committed(SHARED) == (E.none, offset(7))

    run(tmp_path, scenario)


def test_leadership_moving_away_drops_the_shard_and_answers_not_coordinator(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        parked = node.join(SHARED)  # the group waits for its rebalance
        pending = node.commit(ALSO_SHARED, 3)
        await settle()
        assert not parked.done() and not pending.done()
        node.change(0, leader=OTHER)
        await settle()
        assert parked.result().error_code == E.not_coordinator
        assert pending.result() == [E.not_coordinator]  # NOT_LEADER_OR_FOLLOWER, mapped
        assert node.committed(SHARED) == (E.not_coordinator, [])
        assert node.committed(MINE) == (E.none, NOTHING)  # the other shards stay
        assert node.clock.live_timers == 0  # the dropped shard left no timer behind

    run(tmp_path, scenario)


def test_a_new_leader_loads_once_its_log_is_committed_and_shows_what_it_held(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        first = node.commit(SHARED, 1)
        await settle()
        node.follower_fetches(0)
        await settle()
        assert first.result() == [E.none]
        unsure = node.commit(SHARED, 2)  # in the log here, not yet in node 2's
        await settle()
        node.change(0, leader=OTHER)
        await settle()
        assert unsure.result() == [E.not_coordinator]

        node.change(0, leader=ME)  # back, in a new leader epoch, before node 2 fetched
        assert node.partition(0).high_watermark < node.partition(0).log_end_offset
        assert node.committed(SHARED) == (E.coordinator_load_in_progress, [])
        assert (await node.join(SHARED)).error_code == E.coordinator_load_in_progress
        assert node.groups.list_groups()[0] == E.coordinator_load_in_progress
        assert node.committed(MINE) == (E.none, NOTHING)  # other shards serve meanwhile

        node.follower_fetches(0)  # node 2 now holds everything: all of it is committed
        await settle()
        assert node.committed(SHARED) == (E.none, offset(2))
        assert node.groups.list_groups()[0] == E.none

    run(tmp_path, scenario)


def test_a_shard_stops_loading_when_leadership_moves_away_first(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        node.commit(SHARED, 1)
        await settle()
        node.change(0, leader=OTHER)
        node.change(0, leader=ME)
        assert node.committed(SHARED)[0] == E.coordinator_load_in_progress
        node.change(0, leader=OTHER)
        await settle()
        assert node.committed(SHARED)[0] == E.not_coordinator
        assert node.groups.list_groups()[0] == E.none  # nothing is loading any more

    run(tmp_path, scenario)


def test_the_assignment_is_handed_out_once_the_isr_holds_it(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        joining = node.join(SHARED)
        await settle()
        node.clock.advance(1)  # the (zero) initial rebalance delay
        await settle()
        leader = joining.result()
        syncing = node.sync(SHARED, leader, b"mine")
        await settle()
        assert not syncing.done()
        assert node.groups.describe(SHARED).state_name == "CompletingRebalance"
        node.follower_fetches(0)
        await settle()
        assert (syncing.result().error_code, syncing.result().assignment) == (E.none, b"mine")
        assert node.groups.describe(SHARED).state_name == "Stable"

    run(tmp_path, scenario)


def test_an_assignment_not_yet_replicated_when_leadership_moves_is_not_handed_out(
    tmp_path,
) -> None:
    async def scenario(node: Node) -> None:
        joining = node.join(SHARED)
        await settle()
        node.clock.advance(1)
        await settle()
        leader = joining.result()
        syncing = node.sync(SHARED, leader, b"mine")
        await settle()
        node.change(0, leader=OTHER)
        await settle()
        assert syncing.result().error_code == E.not_coordinator
        assert node.clock.live_timers == 0

    run(tmp_path, scenario)


def test_offset_delete_is_routed_and_answered_once_the_isr_holds_the_tombstones(tmp_path) -> None:
    async def scenario(node: Node) -> None:
        committing = node.commit(SHARED, 7)
        await settle()
        node.follower_fetches(0)
        await settle()
        assert committing.result() == [E.none]

        deleting = asyncio.get_running_loop().create_task(
            node.groups.delete_offsets(SHARED, [("tweets", 0)])
        )
        await settle()
        assert not deleting.done()
        assert node.committed(SHARED) == (E.none, offset(7))  # gone once committed
        node.follower_fetches(0)
        await settle()
        assert deleting.result() == (E.none, {("tweets", 0): E.none})
        assert node.committed(SHARED) == (E.none, NOTHING)
        error, listed = node.groups.list_groups()  # left without offsets, the group went too
        assert error == E.none and SHARED not in [g.group_id for g in listed]

        theirs = await node.groups.delete_offsets(THEIRS, [("tweets", 0)])
        assert theirs == (E.not_coordinator, {})
        assert await node.groups.delete_offsets("", [("tweets", 0)]) == (E.invalid_group_id, {})

    run(tmp_path, scenario)
