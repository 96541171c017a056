"""A manual clock for the coordinator's timers, ``__consumer_offsets`` logs in a temporary
directory, and a small driver that runs joins and syncs as tasks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from pathlib import Path

import broker.clock
from broker.groups import (
    GroupCoordinator,
    GroupSettings,
    JoinResult,
    OffsetStore,
    SyncResult,
)
from broker.groups.store import OFFSETS_TOPIC
from broker.replica.replica import Replica
from broker.storage import LogConfig, PartitionLog

TOPIC_ID = uuid.UUID("0b5b0c39-7a38-4c4c-9b57-4f1f6f0b9a11")
START_MS = 1_700_000_000_000
SESSION_MS = 10_000
REBALANCE_MS = 60_000
RANGE = [("range", b"range-subscription")]


class ManualClock(broker.clock.ManualClock):
    """The broker's manual clock, starting at ``START_MS``."""

    def __init__(self, start_ms: int = START_MS) -> None:
        super().__init__(start_ms)


def make_partitions(root: Path, count: int, config: LogConfig | None = None) -> list[Replica]:
    root.mkdir(parents=True, exist_ok=True)
    return [
        Replica(
            OFFSETS_TOPIC,
            index,
            PartitionLog.create(root, OFFSETS_TOPIC, index, TOPIC_ID, config or LogConfig()),
            leader_epoch=0,
        )
        for index in range(count)
    ]


def reopen_partitions(root: Path, count: int) -> list[Replica]:
    """The same logs opened afresh, as after a crash: every segment is recovered."""
    return [
        Replica(
            OFFSETS_TOPIC,
            index,
            PartitionLog.open(root / f"{OFFSETS_TOPIC}-{index}", LogConfig(), recovery_point=0),
            leader_epoch=0,
        )
        for index in range(count)
    ]


async def settle() -> None:
    """Let every task that can run, run (futures resolved by timers wake their awaiters)."""
    for _ in range(5):
        await asyncio.sleep(0)


class Driver:
    """Drives one coordinator: joins and syncs become tasks, time moves by hand."""

    def __init__(
        self,
        partitions: list[Replica],
        settings: GroupSettings | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self.clock = clock or ManualClock()
        self.partitions = partitions
        self.store = OffsetStore(partitions, self.clock.now_ms)
        self.coordinator = GroupCoordinator(self.store, settings or GroupSettings(), self.clock)

    def join(
        self,
        member_id: str = "",
        *,
        group: str = "g",
        client_id: str = "client",
        protocol_type: str = "consumer",
        protocols: list[tuple[str, bytes]] = RANGE,
        session_timeout_ms: int = SESSION_MS,
        rebalance_timeout_ms: int = REBALANCE_MS,
        require_known_member_id: bool = False,
        instance_id: str | None = None,
        supports_skip_assignment: bool = False,
    ) -> asyncio.Task[JoinResult]:
        return asyncio.get_running_loop().create_task(
            self.coordinator.join(
                group,
                member_id,
                instance_id,
                client_id,
                "/127.0.0.1",
                protocol_type,
                protocols,
                session_timeout_ms,
                rebalance_timeout_ms,
                require_known_member_id,
                supports_skip_assignment=supports_skip_assignment,
            )
        )

    def sync(
        self,
        member_id: str,
        generation_id: int,
        assignments: dict[str, bytes] | None = None,
        *,
        group: str = "g",
        protocol_type: str | None = "consumer",
        protocol_name: str | None = None,
        instance_id: str | None = None,
    ) -> asyncio.Task[SyncResult]:
        return asyncio.get_running_loop().create_task(
            self.coordinator.sync(
                group,
                member_id,
                generation_id,
                instance_id,
                protocol_type,
                protocol_name,
                assignments or {},
            )
        )

    async def advance(self, ms: int) -> None:
        await settle()
        self.clock.advance(ms)
        await settle()

    async def join_now(self, member_id: str = "", **kwargs) -> JoinResult:
        """A join that is answered without the clock moving."""
        task = self.join(member_id, **kwargs)
        await settle()
        assert task.done(), "the join is parked"
        return task.result()

    async def stable_group(
        self, count: int, *, group: str = "g", instance_ids: list[str | None] | None = None
    ) -> list[JoinResult]:
        """``count`` members joined in one generation and synced; the leader's first.
        ``instance_ids`` makes members static (one ``group.instance.id`` or None each)."""
        instances = instance_ids or [None] * count
        tasks = [
            self.join(group=group, client_id=f"c{i}", instance_id=instances[i])
            for i in range(count)
        ]
        await self.advance(GroupSettings().initial_rebalance_delay_ms * (count + 1))
        results = [task.result() for task in tasks]
        leader = next(r for r in results if r.members)
        ordered = [leader, *(r for r in results if r is not leader)]
        assignments = {r.member_id: f"{r.generation_id}:{r.member_id}".encode() for r in results}
        syncs = [self.sync(r.member_id, r.generation_id, assignments, group=group) for r in ordered]
        await settle()
        assert all(s.done() for s in syncs)
        return ordered


def run(coroutine: Coroutine[object, object, None]) -> None:
    """Run a scenario; fail if the loop reported an error (such as a future answered twice
    or a task's exception never retrieved)."""
    problems: list[dict[str, object]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: problems.append(context)
        )
        await coroutine

    asyncio.run(main())
    assert not problems, problems
