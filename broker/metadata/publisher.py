"""Committed metadata-log entries become images, handed to subscribers in log order.

In cluster mode every node follows ``__cluster_metadata`` (as a voter or an observer); the
Raft runtime calls :meth:`MetadataPublisher.on_commit` once per committed entry, in offset
order. Each entry holds one controller decision's records (``broker.metadata.codec``); they are
applied together, so a subscriber never sees half a decision, and an entry that does not fit
the image is skipped whole. Until someone subscribes (a node catching up with the log at
start), entries are only collected, and applied in one delta when the image is read.
Leader-change entries carry no records and only move the applied offset, which the broker
reports in its heartbeats (Kafka's ``current_metadata_offset``). A snapshot the runtime hands
over (at a restart, or when the leader's snapshot replaced entries not applied here) replaces
the image whole (:meth:`MetadataPublisher.load_snapshot`), and the subscribers see it as one
change. Waiters (a forwarded CreateTopics, the start-up catch-up) are woken when an image or
offset they wait for arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from broker.metadata.codec import CodecError, decode
from broker.metadata.image import MetadataImage, apply_entries
from broker.metadata.records import MetadataRecord
from broker.metadata.snapshot import decode_snapshot

log = logging.getLogger("broker.metadata")

Subscriber = Callable[[MetadataImage, MetadataImage], None]


class CommittedEntry(Protocol):
    """What the publisher reads of a Raft entry (``broker.raft.messages.Entry``)."""

    @property
    def value(self) -> bytes: ...

    @property
    def leader_change(self) -> bool: ...


class MetadataPublisher:
    def __init__(self) -> None:
        self._image = MetadataImage()
        # Entries committed while nobody subscribed (a node catching up at start), applied
        # together when the image is next read: a long log replays in one delta.
        self._unapplied: list[tuple[int, list[MetadataRecord]]] = []
        self.offset = -1  # the last entry applied
        self._subscribers: list[Subscriber] = []
        self._changed = asyncio.Condition()
        self._wake: asyncio.Task[None] | None = None

    @property
    def image(self) -> MetadataImage:
        """The metadata as every committed entry so far leaves it."""
        if self._unapplied:
            self._image = apply_entries(self._image, self._unapplied)
            self._unapplied = []
        return self._image

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(old, new)`` with every new image from now on, in order."""
        self._subscribers.append(subscriber)

    def on_commit(self, offset: int, entry: CommittedEntry) -> None:
        """Apply one committed entry (the Raft runtime's subscriber)."""
        if offset <= self.offset:
            return  # already applied (a runtime replaying what this publisher has seen)
        self.offset = offset
        if not entry.leader_change and entry.value:
            try:
                records = decode(entry.value)
            except CodecError as err:
                # Kafka's brokers raise a metadata fault and keep the image they had.
                log.error("metadata entry at offset %d not applied: %s", offset, err)
            else:
                self._unapplied.append((offset, records))
                if self._subscribers:
                    self._publish()
        self._notify()

    def _publish(self) -> None:
        old = self._image
        new = self.image
        if new is not old:
            for subscriber in self._subscribers:
                subscriber(old, new)

    def load_snapshot(self, end_offset: int, data: bytes) -> None:
        """Replace the image with a snapshot's, that of every entry below ``end_offset`` (the
        Raft runtime's snapshot subscriber). Raises SnapshotError: without its metadata the
        node cannot go on."""
        image = decode_snapshot(data)
        old = self.image
        self._image, self._unapplied = image, []
        self.offset = end_offset - 1
        for subscriber in self._subscribers:
            subscriber(old, image)
        self._notify()

    def _notify(self) -> None:
        if self._wake is None or self._wake.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (unit tests of on_commit alone): nobody can be waiting
            self._wake = loop.create_task(self._wake_all())

    async def _wake_all(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, done: Callable[[MetadataPublisher], bool], timeout_s: float) -> bool:
        """Wait until ``done(self)`` holds (checked after every entry); False on timeout."""
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: done(self))
        except TimeoutError:
            return done(self)
        return True
