"""A Jepsen-queue-style history of produced values and a checker over what was read back.

Each produce of a unique value is recorded as invoked, then completed as ``ok`` (with the
acked partition and offset), ``failed`` (definitely not written) or ``unknown`` (a timeout or
an ambiguous error: it may or may not be in the log). A value still only invoked when the
history is checked counts as unknown. ``check`` takes every ``(partition, offset, value)``
read back from the log and reports:

- lost: an acked value never read, or read only at another position than the acked one;
- duplicated: an acked value read at two or more positions;
- unknown_twice: an unknown value read at two or more positions (it may appear at most once);
- inconsistent: two different values read at one position;
- out_of_order: a later ack of one producer to one partition at a lower offset than an
  earlier ack (acks are ordered as ``ok`` was called);
- failed_read: a failed value that was read anyway (Jepsen's G1a);
- unexpected: a value read that was never produced;
- gaps: offsets below a partition's highest offset read that were not read (the log must be
  dense from offset 0).

Thread-safe: producers' delivery callbacks may record from several threads.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

INVOKED, OK, FAILED, UNKNOWN = "invoked", "ok", "failed", "unknown"


class Position(NamedTuple):
    partition: int
    offset: int


class Read(NamedTuple):
    partition: int
    offset: int
    value: str


@dataclass
class Write:
    producer: str
    value: str
    invoked_at: float
    status: str = INVOKED
    position: Position | None = None
    completed_at: float | None = None
    error: str | None = None


class Reorder(NamedTuple):
    """``later`` was acked after ``earlier`` by one producer, yet at a lower offset."""

    producer: str
    partition: int
    earlier: str
    earlier_offset: int
    later: str
    later_offset: int


@dataclass
class Report:
    acked: int
    unknown: int
    failed: int
    read: int
    lost: dict[str, str] = field(default_factory=dict)
    duplicated: dict[str, list[Position]] = field(default_factory=dict)
    unknown_twice: dict[str, list[Position]] = field(default_factory=dict)
    inconsistent: dict[Position, list[str]] = field(default_factory=dict)
    out_of_order: list[Reorder] = field(default_factory=list)
    failed_read: dict[str, Position] = field(default_factory=dict)
    unexpected: dict[str, Position] = field(default_factory=dict)
    gaps: dict[int, list[int]] = field(default_factory=dict)
    unknown_read: int = 0

    ANOMALIES = (
        "lost",
        "duplicated",
        "unknown_twice",
        "inconsistent",
        "out_of_order",
        "failed_read",
        "unexpected",
        "gaps",
    )

    @property
    def valid(self) -> bool:
        return not any(getattr(self, name) for name in self.ANOMALIES)

    def summary(self) -> str:
        counts = " ".join(f"{name}={len(getattr(self, name))}" for name in self.ANOMALIES)
        return (
            f"acked={self.acked} read={self.read} unknown={self.unknown} "
            f"(read {self.unknown_read}) failed={self.failed} {counts}"
        )

    def details(self, limit: int = 10) -> str:
        """The first ``limit`` items of every anomaly found, for an assertion message."""
        lines = [self.summary()]
        for name in self.ANOMALIES:
            items = getattr(self, name)
            if items:
                shown = list(items.items() if isinstance(items, dict) else items)[:limit]
                lines.append(f"{name}: {shown}")
        return "\n".join(lines)


class History:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writes: dict[str, Write] = {}
        self._acks: list[str] = []

    def invoke(self, producer: str, value: str) -> None:
        with self._lock:
            if value in self._writes:
                raise ValueError(f"value {value!r} produced twice: values must be unique")
            self._writes[value] = Write(producer, value, time.monotonic())

    def ok(self, value: str, partition: int, offset: int) -> None:
        with self._lock:
            write = self._complete(value, OK, None)
            write.position = Position(partition, offset)
            self._acks.append(value)

    def fail(self, value: str, error: str) -> None:
        with self._lock:
            self._complete(value, FAILED, error)

    def unknown(self, value: str, error: str) -> None:
        with self._lock:
            self._complete(value, UNKNOWN, error)

    def _complete(self, value: str, status: str, error: str | None) -> Write:
        write = self._writes[value]
        if write.status != INVOKED:
            raise ValueError(f"value {value!r} completed twice ({write.status}, then {status})")
        write.status, write.error, write.completed_at = status, error, time.monotonic()
        return write

    @property
    def writes(self) -> list[Write]:
        with self._lock:
            return list(self._writes.values())

    def acked(self) -> list[Write]:
        """The ok writes, in the order they were acked."""
        with self._lock:
            return [self._writes[value] for value in self._acks]

    def check(self, reads: Iterable[Read]) -> Report:
        with self._lock:
            writes = dict(self._writes)
            acks = list(self._acks)
        by_status: dict[str, int] = defaultdict(int)
        for write in writes.values():
            by_status[write.status] += 1
        positions_of: dict[str, set[Position]] = defaultdict(set)
        values_at: dict[Position, set[str]] = defaultdict(set)
        for partition, offset, value in reads:
            position = Position(partition, offset)
            positions_of[value].add(position)
            values_at[position].add(value)
        report = Report(
            acked=by_status[OK],
            unknown=by_status[UNKNOWN] + by_status[INVOKED],
            failed=by_status[FAILED],
            read=len(values_at),
        )
        for position, values in sorted(values_at.items()):
            if len(values) > 1:
                report.inconsistent[position] = sorted(values)
        for value, positions in positions_of.items():
            write = writes.get(value)
            if write is None:
                report.unexpected[value] = min(positions)
            elif write.status == FAILED:
                report.failed_read[value] = min(positions)
            elif len(positions) > 1:
                target = report.duplicated if write.status == OK else report.unknown_twice
                target[value] = sorted(positions)
            if write is not None and write.status in (UNKNOWN, INVOKED):
                report.unknown_read += 1
        for value in acks:
            acked_at = writes[value].position
            seen = positions_of.get(value)
            if not seen:
                report.lost[value] = f"acked at {acked_at}, never read"
            elif acked_at not in seen:
                report.lost[value] = f"acked at {acked_at}, read at {sorted(seen)}"
        report.out_of_order = _reorders(writes, acks)
        for partition in sorted({position.partition for position in values_at}):
            offsets = {p.offset for p in values_at if p.partition == partition}
            missing = sorted(set(range(max(offsets) + 1)) - offsets)
            if missing:
                report.gaps[partition] = missing
        return report


def _reorders(writes: dict[str, Write], acks: list[str]) -> list[Reorder]:
    """Per producer and partition, each ack must land above every earlier ack."""
    highest: dict[tuple[str, int], tuple[int, str]] = {}
    found = []
    for value in acks:
        write = writes[value]
        partition, offset = write.position or (-1, -1)
        key = (write.producer, partition)
        top = highest.get(key)
        if top is not None and offset <= top[0]:
            found.append(Reorder(write.producer, partition, top[1], top[0], value, offset))
        else:
            highest[key] = (offset, value)
    return found
