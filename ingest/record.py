"""Tee any tweet source to a JSONL file in the replay format.

Each envelope's ``raw`` bytes plus a newline are written, unbuffered, before the envelope is
yielded: a killed process loses at most the line in flight, and ``ReplaySource`` replays
the file to the same envelopes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chirpstream.tweets import Envelope
from ingest.source import TweetSource


class RecordedSource:
    """``source``, with every envelope also written to ``path`` (truncated when created)."""

    def __init__(self, source: TweetSource, path: Path | str) -> None:
        self._source = source
        self.name = source.name
        self.path = Path(path)
        self.recorded = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened now, so a path that cannot be written fails before anything is published.
        self._file = self.path.open("wb", buffering=0)

    def envelopes(self) -> Iterator[Envelope]:
        file = self._file if not self._file.closed else self.path.open("ab", buffering=0)
        try:
            for envelope in self._source.envelopes():
                file.write(envelope.raw + b"\n")  # one unbuffered write: one whole line
                self.recorded += 1
                yield envelope
        finally:
            file.close()

    def close(self) -> None:
        self._source.close()

    def summary(self) -> str:
        inner = getattr(self._source, "summary", None)
        mine = f"recorded {self.recorded} tweets to {self.path}"
        return f"{inner()}; {mine}" if inner is not None else mine

    def __getattr__(self, name: str) -> Any:
        # The inner source's counters (reads, skipped, ...) show through.
        if name == "_source":
            raise AttributeError(name)
        return getattr(self._source, name)


def recorded(source: TweetSource, path: Path | str) -> TweetSource:
    """Tee ``source`` to ``path`` (JSONL, the replay format); yields the same envelopes."""
    return RecordedSource(source, path)
