"""Which groups this broker coordinates: one coordinator shard per ``__consumer_offsets``
partition it leads, as Kafka splits its coordinator by partition.

A group belongs to ``partition_for(group_id)``; this broker coordinates it only while it leads
that partition. The shards follow the replica manager's role changes (``on_role_change`` is
its observer): when this broker becomes a partition's leader, the shard is *loading* until the
partition's high watermark reaches the log end it had then (a new leader learns that
everything in its log is committed once its ISR fetched it), and is then built by replaying
the partition, through the same code that wrote it; when this broker stops leading it (or the
partition goes), the shard is dropped and its parked requests answered NOT_COORDINATOR.

Requests for a group answer as Kafka's ``GroupCoordinator`` does before reaching a group:
INVALID_GROUP_ID (membership requests with an empty id), COORDINATOR_LOAD_IN_PROGRESS (14)
while its shard loads, NOT_COORDINATOR (16) when another broker leads its partition,
COORDINATOR_NOT_AVAILABLE (15) once stopped. On one node every partition is led here from the
start, and every shard is loaded before the first request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from kio.schema.errors import ErrorCode

from broker.clock import Clock
from broker.groups.coordinator import GroupCoordinator, GroupSettings
from broker.groups.store import OFFSETS_TOPIC, OffsetStore, partition_for
from broker.groups.values import (
    CommitEntry,
    CommittedOffset,
    GroupDescription,
    GroupListing,
    JoinResult,
    LeaveResult,
    OffsetDeleteResult,
    SyncResult,
)
from broker.replica.replica import Replica, Role

log = logging.getLogger("broker.groups")


class GroupCoordinators:
    """The group coordinator shards of this broker, by ``__consumer_offsets`` partition
    (``num_partitions`` in all), with one request API routing each group to its shard."""

    def __init__(self, num_partitions: int, settings: GroupSettings, clock: Clock) -> None:
        self.num_partitions = num_partitions
        self._settings = settings
        self._clock = clock
        self._shards: dict[int, GroupCoordinator] = {}
        self._loading: dict[int, asyncio.Task[None]] = {}
        self._closed = False

    def partition_for(self, group_id: str) -> int:
        """The ``__consumer_offsets`` partition that holds ``group_id``."""
        return partition_for(group_id, self.num_partitions)

    # ---- following leadership -------------------------------------------------------------

    def attach(self, replicas: Iterable[Replica]) -> None:
        """Take up the ``__consumer_offsets`` partitions led here now (call once, before
        serving; later changes come through ``on_role_change``)."""
        held = [replica for replica in replicas if replica.topic == OFFSETS_TOPIC]
        for replica in held:
            self.on_role_change(replica, quiet=True)
        groups = sum(len(shard.list_groups()) for shard in self._shards.values())
        log.info(
            "coordinating %d groups in %d of %d %s partitions (%d loading)",
            groups, len(self._shards), self.num_partitions, OFFSETS_TOPIC, len(self._loading),
        )  # fmt: skip

    def on_role_change(self, replica: Replica, *, quiet: bool = False) -> None:
        """The replica manager's observer: ``replica`` became a leader or a follower, or
        was dropped (then it is a follower too)."""
        if replica.topic != OFFSETS_TOPIC or self._closed:
            return
        index = replica.index
        if replica.role is not Role.LEADER:
            self._unload(index)
        elif index not in self._shards and index not in self._loading:
            if replica.high_watermark >= replica.log_end_offset:
                self._load(replica, quiet)
            else:
                task = asyncio.get_running_loop().create_task(self._load_once_committed(replica))
                self._loading[index] = task

    async def _load_once_committed(self, replica: Replica) -> None:
        """Load once the high watermark reached the log end as of now (or stop waiting when
        this broker stops leading the partition)."""
        target = replica.log_end_offset
        try:
            while replica.role is Role.LEADER and replica.high_watermark < target:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                replica.add_waiter(waiter)
                try:
                    await waiter
                finally:
                    replica.remove_waiter(waiter)
        finally:
            if self._loading.get(replica.index) is asyncio.current_task():
                del self._loading[replica.index]
        if replica.role is Role.LEADER and not self._closed:
            self._load(replica, quiet=False)

    def _load(self, replica: Replica, quiet: bool) -> None:
        store = OffsetStore([replica], self._clock.now_ms, self.num_partitions)
        shard = GroupCoordinator(store, self._settings, self._clock)
        groups, offsets = shard.load()
        self._shards[replica.index] = shard
        if not quiet:
            log.info(
                "now coordinating %s-%d (leader epoch %d): loaded %d groups, %d offsets",
                OFFSETS_TOPIC, replica.index, replica.leader_epoch, groups, offsets,
            )  # fmt: skip

    def _unload(self, index: int) -> None:
        task = self._loading.pop(index, None)
        if task is not None:
            task.cancel()
        shard = self._shards.pop(index, None)
        if shard is not None:
            shard.close(ErrorCode.not_coordinator)
            log.info("no longer coordinating %s-%d", OFFSETS_TOPIC, index)

    def close(self) -> None:
        """Stop: parked requests answer COORDINATOR_NOT_AVAILABLE, as do later ones."""
        self._closed = True
        for task in self._loading.values():
            task.cancel()
        self._loading.clear()
        for shard in self._shards.values():
            shard.close()

    # ---- routing -----------------------------------------------------------------------

    def coordinator_for(
        self, group_id: str, *, membership: bool = False
    ) -> GroupCoordinator | ErrorCode:
        """The shard coordinating ``group_id``, or why there is none here. ``membership``:
        a JoinGroup, SyncGroup, Heartbeat or LeaveGroup, for which an empty id is invalid."""
        if membership and not group_id:
            return ErrorCode.invalid_group_id
        if self._closed:
            return ErrorCode.coordinator_not_available
        index = self.partition_for(group_id)
        if index in self._loading:
            return ErrorCode.coordinator_load_in_progress
        shard = self._shards.get(index)
        return ErrorCode.not_coordinator if shard is None else shard

    async def join(self, group_id: str, member_id: str, *args, **kwargs) -> JoinResult:
        """JoinGroup (``GroupCoordinator.join``'s arguments)."""
        shard = self.coordinator_for(group_id, membership=True)
        if isinstance(shard, ErrorCode):
            return JoinResult(shard, -1, None, None, "", member_id, [])
        return await shard.join(group_id, member_id, *args, **kwargs)

    async def sync(self, group_id: str, *args, **kwargs) -> SyncResult:
        """SyncGroup (``GroupCoordinator.sync``'s arguments)."""
        shard = self.coordinator_for(group_id, membership=True)
        if isinstance(shard, ErrorCode):
            return SyncResult(shard, None, None, b"")
        return await shard.sync(group_id, *args, **kwargs)

    def heartbeat(
        self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None
    ) -> ErrorCode:
        shard = self.coordinator_for(group_id, membership=True)
        if isinstance(shard, ErrorCode):
            return shard
        return shard.heartbeat(group_id, member_id, generation_id, group_instance_id)

    def leave(self, group_id: str, members: list[tuple[str, str | None]]) -> LeaveResult:
        shard = self.coordinator_for(group_id, membership=True)
        if isinstance(shard, ErrorCode):
            return LeaveResult(shard, [])
        return shard.leave(group_id, members)

    async def commit(
        self,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: list[CommitEntry],
    ) -> list[ErrorCode]:
        """OffsetCommit: one error per entry, once the accepted ones are committed."""
        shard = self.coordinator_for(group_id)
        if isinstance(shard, ErrorCode):
            return [shard] * len(offsets)
        answer = shard.commit(group_id, generation_id, member_id, group_instance_id, offsets)
        return answer if isinstance(answer, list) else await answer

    def fetch(
        self, group_id: str, partitions: list[tuple[str, int]] | None
    ) -> tuple[ErrorCode, list[CommittedOffset]]:
        """OffsetFetch: the group's error, and its committed offsets when there is none."""
        shard = self.coordinator_for(group_id)
        if isinstance(shard, ErrorCode):
            return shard, []
        return ErrorCode.none, shard.fetch(group_id, partitions)

    def describe(self, group_id: str) -> GroupDescription:
        shard = self.coordinator_for(group_id)
        if isinstance(shard, ErrorCode):
            return GroupDescription(shard, group_id, "", "", "", [])
        return shard.describe(group_id)

    def list_groups(self, states: set[str] | None = None) -> tuple[ErrorCode, list[GroupListing]]:
        """ListGroups: the groups of every shard loaded here, sorted by id, with
        COORDINATOR_LOAD_IN_PROGRESS while a shard loads (as Kafka answers)."""
        if self._closed:
            return ErrorCode.coordinator_not_available, []
        listed = [g for shard in self._shards.values() for g in shard.list_groups(states)]
        error = ErrorCode.coordinator_load_in_progress if self._loading else ErrorCode.none
        return error, sorted(listed, key=lambda g: g.group_id)

    def delete(self, group_ids: list[str]) -> dict[str, ErrorCode]:
        """DeleteGroups: each group by its shard; a group named twice is answered once."""
        results: dict[str, ErrorCode] = {}
        for group_id in group_ids:
            if group_id in results:
                continue
            shard = self.coordinator_for(group_id)
            if isinstance(shard, ErrorCode):
                results[group_id] = shard
            else:
                results.update(shard.delete([group_id]))
        return results

    async def delete_offsets(
        self, group_id: str, partitions: list[tuple[str, int]]
    ) -> OffsetDeleteResult:
        """OffsetDelete (``GroupCoordinator.delete_offsets``); an empty group id is invalid."""
        shard = self.coordinator_for(group_id, membership=True)
        if isinstance(shard, ErrorCode):
            return OffsetDeleteResult(shard, {})
        answer = shard.delete_offsets(group_id, partitions)
        return answer if isinstance(answer, OffsetDeleteResult) else await answer

    def remove_offsets(self, exists: Callable[[str], bool]) -> None:
        """Tombstone the committed offsets of topics that no longer ``exists``, in every
        shard loaded here."""
        for shard in self._shards.values():
            shard.remove_offsets(exists)
