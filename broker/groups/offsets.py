"""A coordinator's committed offsets: OffsetCommit's writes, OffsetFetch's reads, and the
tombstones of deleted topics and groups and of OffsetDelete.

Whether a member may commit at all is the membership's question (``GroupCoordinator.commit``
asks it first); this holds the offsets by group and writes them to ``__consumer_offsets``. A
commit's offsets are shown only once the batch is committed (``broker.groups.writes``), as
Kafka's ``GroupMetadataManager.storeOffsets`` puts them in its cache only then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from kio.schema.errors import ErrorCode

from broker.groups.codec import OffsetKey, OffsetValue
from broker.groups.store import OffsetStore, StoreError
from broker.groups.values import CommitEntry, CommittedOffset
from broker.groups.writes import Commits, coordinator_error

log = logging.getLogger("broker.groups")

TopicPartition = tuple[str, int]
T = TypeVar("T")


def _java_length(text: str) -> int:
    """``String.length()`` in Java: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class CommittedOffsets:
    """The committed offsets of the groups in ``store``; metadata longer than
    ``metadata_max_bytes`` (``offset.metadata.max.bytes``) is refused."""

    def __init__(self, store: OffsetStore, commits: Commits, metadata_max_bytes: int) -> None:
        self._store = store
        self._commits = commits
        self._metadata_max_bytes = metadata_max_bytes
        self._by_group: dict[str, dict[TopicPartition, OffsetValue]] = {}

    def restore(self, stored: Mapping[OffsetKey, OffsetValue]) -> None:
        """Take the offsets a replay of the store found."""
        for key, value in stored.items():
            self._by_group.setdefault(key.group, {})[(key.topic, key.partition)] = value

    def groups(self) -> Iterable[str]:
        """The groups with committed offsets."""
        return self._by_group.keys()

    def commit(
        self, group_id: str, offsets: list[CommitEntry]
    ) -> list[ErrorCode] | asyncio.Future[list[ErrorCode]]:
        """Write ``offsets`` as one batch: one error per entry, in order, at once or (while
        the batch is not yet committed) as a future."""
        limit = self._metadata_max_bytes
        errors = [
            ErrorCode.offset_metadata_too_large
            if _java_length(entry.metadata or "") > limit
            else ErrorCode.none
            for entry in offsets
        ]
        now = self._store.now_ms()
        records = [
            (
                OffsetKey(group_id, entry.topic, entry.partition),
                OffsetValue(entry.offset, entry.leader_epoch, entry.metadata or "", now),
            )
            for entry, error in zip(offsets, errors, strict=True)
            if error is ErrorCode.none
        ]
        if not records:
            return errors

        def stored(failure: ErrorCode) -> list[ErrorCode]:
            if failure is not ErrorCode.none:
                log.debug("group %s: committed offsets not stored: %s", group_id, failure.name)
                code = coordinator_error(failure)
                return [code if error is ErrorCode.none else error for error in errors]
            committed = self._by_group.setdefault(group_id, {})
            for key, value in records:
                committed[(key.topic, key.partition)] = value
            return errors

        try:
            ack = self._store.write(group_id, records)
        except StoreError as err:
            log.debug("group %s: cannot store committed offsets: %s", group_id, err)
            return stored(err.code)
        return self._commits.then(ack, stored)

    def fetch(
        self, group_id: str, partitions: list[TopicPartition] | None
    ) -> list[CommittedOffset]:
        """OffsetFetch: the given ``(topic, partition)`` pairs in order (-1, -1, "" where
        nothing is committed), or with None every committed partition, sorted."""
        committed = self._by_group.get(group_id, {})
        wanted = sorted(committed) if partitions is None else partitions
        answer = []
        for topic, partition in wanted:
            value = committed.get((topic, partition))
            if value is None:
                answer.append(CommittedOffset(topic, partition, -1, -1, ""))
            else:
                answer.append(
                    CommittedOffset(
                        topic, partition, value.offset, value.leader_epoch, value.metadata
                    )
                )
        return answer

    def remove_topics(self, exists: Callable[[str], bool]) -> None:
        """Tombstone, in every group, the committed offsets of topics that no longer
        ``exists`` (a deleted topic, as Kafka's ``onPartitionsDeleted``), so a topic created
        again under the same name is read from its start."""
        for group_id, committed in self._by_group.items():
            gone = [key for key in committed if not exists(key[0])]
            if not gone:
                continue
            try:
                self._store.write(group_id, [(OffsetKey(group_id, *key), None) for key in gone])
            except StoreError as err:
                log.debug("group %s: cannot remove offsets of deleted topics: %s", group_id, err)
                continue  # kept, and tried again at the next start
            for key in gone:
                del committed[key]
            log.info("group %s: removed %d offsets of deleted topics", group_id, len(gone))

    def delete(
        self, group_id: str, partitions: Iterable[TopicPartition], then: Callable[[ErrorCode], T]
    ) -> T | asyncio.Future[T]:
        """OffsetDelete: tombstone the group's committed offsets of ``partitions`` (those it
        has) as one batch; they are gone from ``fetch`` once it is committed. ``then(error)``
        is the answer, at once or as a future: NONE, or the write's failure as a group
        request answers it."""
        committed = self._by_group.get(group_id, {})
        gone = sorted({key for key in partitions if key in committed})
        if not gone:
            return then(ErrorCode.none)

        def stored(failure: ErrorCode) -> T:
            if failure is not ErrorCode.none:
                log.debug("group %s: offsets not deleted: %s", group_id, failure.name)
                return then(coordinator_error(failure))
            for key in gone:
                committed.pop(key, None)
            if not committed and self._by_group.get(group_id) is committed:
                del self._by_group[group_id]
            log.info("group %s: deleted the offsets of %d partitions", group_id, len(gone))
            return then(ErrorCode.none)

        try:
            ack = self._store.write(group_id, [(OffsetKey(group_id, *key), None) for key in gone])
        except StoreError as err:
            log.debug("group %s: cannot delete offsets: %s", group_id, err)
            return stored(err.code)
        return self._commits.then(ack, stored)

    def has_offsets(self, group_id: str) -> bool:
        return bool(self._by_group.get(group_id))

    def tombstones(self, group_id: str) -> list[tuple[OffsetKey, None]]:
        """The records that delete every offset of ``group_id``."""
        return [(OffsetKey(group_id, *key), None) for key in self._by_group.get(group_id, {})]

    def forget(self, group_id: str) -> None:
        """The group is deleted (its tombstones are written)."""
        self._by_group.pop(group_id, None)
