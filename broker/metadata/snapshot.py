"""Metadata snapshots (KIP-630), the state machine's side: an image as the records that
rebuild it, loading an image back from them, and when to take one.

A snapshot holds what an image holds, as Kafka's ``MetadataImage.write`` writes it: every
broker's registration as it stands, every topic with its partitions as they stand (replicas,
ISR, leader, leader epoch, partition epoch), the config overrides and the next producer id.
Replaying those records on an empty image gives the same image back, so a node that loads the
snapshot and then applies the entries after it ends where one that replayed the whole log
ends. The records are encoded with the log's codec (``broker.metadata.codec``) in batches of
at most ``max_batch_bytes`` (one record bigger than that is a batch of its own), each a value
``codec.decode`` reads alone. The snapshot's bytes are a format version, then each batch
after its length (an unsigned varint), then a zero length that ends it, so a snapshot cut
short is refused instead of loading as a smaller cluster.

``MetadataSnapshotter`` says when to take one, as Kafka's ``SnapshotGenerator`` does: once the
entries applied since the last snapshot hold ``metadata.log.max.record.bytes.between.snapshots``
bytes, or once ``metadata.log.max.snapshot.interval.ms`` has passed since it and an entry was
applied. It encodes the image in a worker thread (an image never changes) and hands the bytes
to the Raft runtime, which writes the snapshot and starts the log at its end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from broker.clock import Clock
from broker.metadata.codec import CodecError, decode, encode
from broker.metadata.image import MetadataDelta, MetadataError, MetadataImage
from broker.metadata.records import (
    ConfigRecord,
    MetadataRecord,
    PartitionRecord,
    ProducerIdsRecord,
    TopicRecord,
)
from broker.protocol.varint import read_uvarint, uvarint

log = logging.getLogger("broker.metadata")

SNAPSHOT_VERSION = 0
MAX_BATCH_BYTES = 1 << 20
"""The most bytes of records in one batch of a snapshot (a record bigger than this is a batch
of its own)."""

DEFAULT_MAX_BYTES_BETWEEN_SNAPSHOTS = 20 * 1024 * 1024
"""Kafka's ``metadata.log.max.record.bytes.between.snapshots``."""
DEFAULT_MAX_SNAPSHOT_INTERVAL_MS = 3_600_000
"""Kafka's ``metadata.log.max.snapshot.interval.ms`` (one hour; 0 turns the time trigger off)."""


class SnapshotError(ValueError):
    """Bytes that are not a whole metadata snapshot as :func:`encode_snapshot` writes it."""


# -- an image as records, and back ------------------------------------------------------------


def image_records(image: MetadataImage) -> Iterator[MetadataRecord]:
    """The records that rebuild ``image`` on an empty one."""
    for broker in image.brokers.values():
        yield broker.to_record()
    for topic in image.topics_by_id.values():
        yield TopicRecord(topic.name, topic.topic_id)
        for index in sorted(topic.partitions):
            partition = topic.partitions[index]
            yield PartitionRecord(
                partition_id=index,
                topic_id=topic.topic_id,
                replicas=partition.replicas,
                isr=partition.isr,
                leader=partition.leader,
                leader_epoch=partition.leader_epoch,
                partition_epoch=partition.partition_epoch,
            )
    for (resource_type, resource_name), values in image.configs.items():
        for name, value in values.items():
            yield ConfigRecord(resource_type, resource_name, name, value)
    if image.next_producer_id:
        # As Kafka's ProducerIdsImage writes it: the block's owner is not part of the image.
        yield ProducerIdsRecord(
            broker_id=-1, broker_epoch=-1, next_producer_id=image.next_producer_id
        )


def snapshot_batches(
    image: MetadataImage, max_batch_bytes: int = MAX_BATCH_BYTES
) -> Iterator[bytes]:
    """``image``'s records encoded with the log's codec, in batches of at most
    ``max_batch_bytes`` each."""
    batch = bytearray()
    for record in image_records(image):
        encoded = encode([record])
        if batch and len(batch) + len(encoded) > max_batch_bytes:
            yield bytes(batch)
            batch = bytearray()
        batch += encoded
    if batch:
        yield bytes(batch)


def encode_snapshot(image: MetadataImage, max_batch_bytes: int = MAX_BATCH_BYTES) -> bytes:
    """A snapshot's bytes: the version, each batch after its length, a zero length."""
    out = bytearray(uvarint(SNAPSHOT_VERSION))
    for batch in snapshot_batches(image, max_batch_bytes):
        out += uvarint(len(batch)) + batch
    out += uvarint(0)
    return bytes(out)


def decode_snapshot(data: bytes) -> MetadataImage:
    """The image a snapshot holds. Raises :class:`SnapshotError`."""
    delta = MetadataDelta(MetadataImage())
    try:
        for batch in _batches(data):
            for record in decode(batch):
                delta.replay(record)
    except (CodecError, MetadataError) as error:
        raise SnapshotError(f"not a metadata snapshot: {error}") from None
    return delta.apply()


def _batches(data: bytes) -> Iterator[bytes]:
    """The batches of a snapshot's bytes, checking its version and its end."""
    view = memoryview(data)
    try:
        version, position = read_uvarint(view, 0)
        if version != SNAPSHOT_VERSION:
            raise SnapshotError(f"snapshot version {version}, expected {SNAPSHOT_VERSION}")
        while True:
            size, position = read_uvarint(view, position)
            if size == 0:
                break
            end = position + size
            if end > len(data):
                raise SnapshotError(f"the snapshot is cut short inside the batch at {position}")
            yield bytes(view[position:end])
            position = end
    except SnapshotError:
        raise
    except ValueError as error:  # the data ends inside a varint
        raise SnapshotError(f"the snapshot is cut short: {error}") from None
    if position != len(data):
        raise SnapshotError(f"{len(data) - position} bytes after the end of the snapshot")


# -- when to take one -------------------------------------------------------------------------


class SnapshotLog(Protocol):
    """What taking a snapshot needs of the Raft runtime (``broker.raft.runtime.RaftRuntime``)."""

    async def take_snapshot(self, end_offset: int, data: bytes) -> None:
        """Write ``data`` as the snapshot of every entry below ``end_offset`` (all applied
        here) and start the log there. Raises ValueError when the log cannot start there
        (it starts at or after it already)."""


@dataclass(frozen=True, slots=True)
class SnapshotSettings:
    # metadata.log.max.record.bytes.between.snapshots
    max_bytes_between_snapshots: int = DEFAULT_MAX_BYTES_BETWEEN_SNAPSHOTS
    # metadata.log.max.snapshot.interval.ms (0: only the bytes trigger)
    max_interval_ms: int = DEFAULT_MAX_SNAPSHOT_INTERVAL_MS

    def __post_init__(self) -> None:
        if self.max_bytes_between_snapshots < 1:
            raise ValueError("metadata.log.max.record.bytes.between.snapshots must be at least 1")
        if self.max_interval_ms < 0:
            raise ValueError("metadata.log.max.snapshot.interval.ms must not be negative")


class MetadataSnapshotter:
    """Takes a snapshot of the node's image when one is due (see the module). The owner of
    the image calls :meth:`applied` after each entry it applies, and :meth:`loaded` after it
    loads a snapshot."""

    def __init__(
        self,
        metadata_log: SnapshotLog,
        clock: Clock,
        settings: SnapshotSettings = SnapshotSettings(),
    ) -> None:
        self._log = metadata_log
        self._clock = clock
        self.settings = settings
        self._bytes = 0  # of the entries applied since the last snapshot
        self._last_ms = clock.now_ms()
        self._taking: asyncio.Task[None] | None = None
        self.last_end_offset = 0  # of the last snapshot taken or loaded

    def applied(self, offset: int, size: int, image: Callable[[], MetadataImage]) -> None:
        """An entry of ``size`` bytes was applied at ``offset``, leaving ``image()``; take a
        snapshot ending after it if one is due and none is being taken."""
        self._bytes += size
        if self._taking is not None or not self._due():
            return
        taking = self._take(offset + 1, image(), self._bytes)
        self._taking = asyncio.get_running_loop().create_task(taking)

    def loaded(self, end_offset: int) -> None:
        """A snapshot of the entries below ``end_offset`` replaced the image: count from it."""
        self._bytes = 0
        self._last_ms = self._clock.now_ms()
        self.last_end_offset = max(self.last_end_offset, end_offset)

    async def stop(self) -> None:
        """Wait for a snapshot being taken (before the Raft runtime stops)."""
        if self._taking is not None:
            await asyncio.wait([self._taking])

    def _due(self) -> bool:
        if self._bytes >= self.settings.max_bytes_between_snapshots:
            return True
        interval = self.settings.max_interval_ms
        return interval > 0 and self._clock.now_ms() - self._last_ms >= interval

    async def _take(self, end_offset: int, image: MetadataImage, counted: int) -> None:
        """Snapshot ``image``, the state below ``end_offset``, which ``counted`` of the bytes
        applied since the last snapshot built."""
        try:
            data = await asyncio.to_thread(encode_snapshot, image)
            await self._log.take_snapshot(end_offset, data)
        except ValueError as error:  # a snapshot from the leader got there first
            log.info("no snapshot at offset %d: %s", end_offset, error)
        except Exception:
            log.exception("taking a metadata snapshot at offset %d failed", end_offset)
        else:
            # Entries applied meanwhile count towards the next one.
            self._bytes = max(0, self._bytes - counted)
            self._last_ms = self._clock.now_ms()
            self.last_end_offset = max(self.last_end_offset, end_offset)
            log.info(
                "took a metadata snapshot of the log below offset %d: %d bytes, %d topics",
                end_offset,
                len(data),
                len(image.topics),
            )
        finally:
            self._taking = None
