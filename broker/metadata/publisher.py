"""Committed metadata-log entries become images, handed to subscribers in log order.

In cluster mode every node follows ``__cluster_metadata`` (as a voter or an observer); the
Raft runtime calls :meth:`MetadataPublisher.on_commit` once per committed entry, in offset
order. Each entry holds one controller decision's records (``broker.metadata.codec``); they are
applied together, so a subscriber never sees half a decision, and an entry that does not fit
the image is skipped whole (Kafka's brokers raise a metadata fault and go on). Leader-change
entries carry no records and only move the applied offset, which the broker reports in its
heartbeats (Kafka's ``current_metadata_offset``).

As Kafka's ``MetadataLoader`` does, entries committed together are published together: they
are replayed into one delta and the image is built once for the batch, right after the
runtime has handed them all over (or as soon as anyone reads :attr:`~MetadataPublisher.image`
or :attr:`~MetadataPublisher.offset`). Until someone subscribes (a node catching up with the
log at start) entries are only collected, and applied when the image is read. A broker
catching up on a long log so builds a few images instead of one per entry, each a copy of
every topic map.

A snapshot the runtime hands over (at a restart, or when the leader's snapshot replaced
entries not applied here) replaces the image whole (:meth:`MetadataPublisher.load_snapshot`),
and the subscribers see it as one change. With a ``MetadataSnapshotter`` (every node has one,
as Kafka's ``SnapshotGenerator`` sits on every node's loader) it is told of every entry and
snapshots the image when one is due. Waiters (a forwarded CreateTopics, the start-up
catch-up) are woken when an image or offset they wait for arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from broker.metadata.codec import CodecError, decode
from broker.metadata.image import MetadataImage, apply_entries
from broker.metadata.records import MetadataRecord
from broker.metadata.snapshot import MetadataSnapshotter, decode_snapshot

log = logging.getLogger("broker.metadata")

Subscriber = Callable[[MetadataImage, MetadataImage], None]


class CommittedEntry(Protocol):
    """What the publisher reads of a Raft entry (``broker.raft.messages.Entry``)."""

    @property
    def value(self) -> bytes: ...

    @property
    def leader_change(self) -> bool: ...


class MetadataPublisher:
    def __init__(self, snapshotter: MetadataSnapshotter | None = None) -> None:
        self._image = MetadataImage()
        self._offset = -1  # the last entry published
        self._received = -1  # the last entry handed over
        self._pending: list[tuple[int, list[MetadataRecord]]] = []  # not yet in the image
        self._publishing: asyncio.Handle | None = None
        self._subscribers: list[Subscriber] = []
        self._snapshotter = snapshotter
        self._changed = asyncio.Condition()
        self._wake: asyncio.Task[None] | None = None

    @property
    def image(self) -> MetadataImage:
        """The image of every committed entry handed over so far."""
        self._publish()
        return self._image

    @property
    def offset(self) -> int:
        """The last entry applied (-1: none)."""
        self._publish()
        return self._offset

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(old, new)`` with every new image from now on, in order: every
        change after :attr:`image` as it is now."""
        self._publish()
        self._subscribers.append(subscriber)

    def on_commit(self, offset: int, entry: CommittedEntry) -> None:
        """Take one committed entry (the Raft runtime's subscriber); it is published with
        the others committed with it."""
        if offset <= self._received:
            return  # already applied (a runtime replaying what this publisher has seen)
        self._received = offset
        if not entry.leader_change and entry.value:
            try:
                self._pending.append((offset, decode(entry.value)))
            except CodecError as err:
                log.error("metadata entry at offset %d not applied: %s", offset, err)
        self._publish_soon()
        if self._snapshotter is not None:
            self._snapshotter.applied(offset, len(entry.value), lambda: self.image)

    def load_snapshot(self, end_offset: int, data: bytes) -> None:
        """Replace the image with a snapshot's, that of every entry below ``end_offset`` (the
        Raft runtime's snapshot subscriber). Raises SnapshotError: without its metadata the
        node cannot go on."""
        image = decode_snapshot(data)
        self._pending = []
        self._received = end_offset - 1
        self._offset = end_offset - 1
        self._replace(image)
        if self._snapshotter is not None:
            self._snapshotter.loaded(end_offset)
        self._notify()

    def _publish_soon(self) -> None:
        """Publish once the runtime has handed over every entry committed with this one. With
        no subscriber yet (a node catching up at start) entries wait until the image is read."""
        if self._publishing is not None or not self._subscribers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (unit tests of on_commit alone): publish now
            self._publish()
            return
        self._publishing = loop.call_soon(self._publish)

    def _publish(self) -> None:
        """Apply the entries handed over since the last time, as one change."""
        if self._publishing is not None:
            self._publishing.cancel()
            self._publishing = None
        if self._received == self._offset:
            return
        self._offset = self._received
        if self._pending:
            pending, self._pending = self._pending, []
            self._replace(apply_entries(self._image, pending))
        self._notify()

    def _replace(self, image: MetadataImage) -> None:
        old, self._image = self._image, image
        for subscriber in self._subscribers:
            subscriber(old, image)

    def _notify(self) -> None:
        if self._wake is None or self._wake.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: nobody can be waiting
            self._wake = loop.create_task(self._wake_all())

    async def _wake_all(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, done: Callable[[MetadataPublisher], bool], timeout_s: float) -> bool:
        """Wait until ``done(self)`` holds (checked after every batch); False on timeout."""
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: done(self))
        except TimeoutError:
            return done(self)
        return True
