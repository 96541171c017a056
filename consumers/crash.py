"""The "crash before commit" fault a worker takes on ``SIGUSR1``, for the replay lesson.

Armed by the signal, the worker dies at its next commit point: its results are produced and
acknowledged, the offsets after them are ready to commit, and it ``os._exit``\\ s with
``EXIT_CODE`` before committing them. It prints one line first, ``crash_line``: for each
partition it owned, the offsets it processed and did not commit. Whoever is assigned those
partitions next reads that range again (at-least-once), republishes the same run results, and
the fold keeps one result per source range (``consumers.fold``), so the totals do not change.

``parse_crash_line`` reads that line back (the dashboard's replay picture does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

SIGNAL_NAME = "SIGUSR1"
EXIT_CODE = 86  # distinct from a failure (1) and from signals (negative / 128 + n)

_LINE = re.compile(
    r"(?P<name>worker \d+) \((?P<client_id>[^)]+)\): crash before commit: processed and did"
    r" not commit (?P<ranges>.*?); exiting (?P<code>\d+) at (?P<at>\S+)"
)
_RANGE = re.compile(r"(?P<topic>[^\s,\[]+)\[(?P<partition>\d+)\] (?P<first>\d+)\.\.(?P<last>\d+)")


@dataclass(frozen=True)
class UncommittedRange:
    """Offsets ``first``..``last`` of a partition: processed by the crashed worker, uncommitted."""

    topic: str
    partition: int
    first: int
    last: int

    @property
    def records(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Crash:
    """What a worker's crash line says."""

    name: str
    client_id: str
    ranges: tuple[UncommittedRange, ...]
    at_ms: int


def crash_line(name: str, client_id: str, ranges: list[UncommittedRange], at_ms: int) -> str:
    """The line a worker prints as it takes the fault."""
    described = ", ".join(f"{r.topic}[{r.partition}] {r.first}..{r.last}" for r in ranges)
    at = datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds")
    return (
        f"{name} ({client_id}): crash before commit: processed and did not commit"
        f" {described or 'nothing'}; exiting {EXIT_CODE} at {at}"
    )


def parse_crash_line(line: str) -> Crash | None:
    """The crash a worker's log line reports; None for any other line."""
    match = _LINE.search(line) if "crash before commit: " in line else None
    if match is None:
        return None
    ranges = tuple(
        UncommittedRange(m["topic"], int(m["partition"]), int(m["first"]), int(m["last"]))
        for m in _RANGE.finditer(match["ranges"])
    )
    at = datetime.fromisoformat(match["at"])
    return Crash(match["name"], match["client_id"], ranges, round(at.timestamp() * 1000))
