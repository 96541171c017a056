"""What a compatibility test produces and what it must read back."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kafka.partitioner.default import murmur2


@dataclass(frozen=True)
class Delivered:
    """A message as the producer's delivery report placed it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes


def keyed_messages(count: int, keys: int = 37) -> list[tuple[bytes, bytes]]:
    return [(f"user-{i % keys}".encode(), f"message {i} ".encode() * 4) for i in range(count)]


def java_partition(key: bytes, partitions: int) -> int:
    """Where Kafka's Java client (and librdkafka's murmur2 partitioner) puts a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def assert_read_back_exactly(delivered: list[Delivered], consumed: list[Delivered]) -> None:
    """Every delivered message is read once, at its reported offset, in order per partition."""
    assert len(consumed) == len(delivered)
    assert sorted(consumed, key=_position) == sorted(delivered, key=_position)
    by_partition: dict[int, list[int]] = defaultdict(list)
    for message in consumed:
        by_partition[message.partition].append(message.offset)
    for offsets in by_partition.values():
        assert offsets == sorted(offsets), "a partition was read out of order"
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), "offsets not dense"


def _position(message: Delivered) -> tuple[int, int]:
    return message.partition, message.offset
