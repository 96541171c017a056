"""Replay a recorded JSONL file of stream lines, through the same parser as the live stream.

The file holds one raw filtered-stream line per row: exactly what X sends, what
``ingest.record`` writes, and what ``python -m ingest.simulate`` writes. Every line goes
through ``chirpstream.tweets.parse_line``, so replaying a file exercises the live path's
parser, and an envelope comes out with the line's bytes unchanged.

Pacing follows the recorded ``created_at`` values: ``speed=1.0`` keeps the recorded gaps,
``10.0`` is ten times faster, ``None`` is as fast as possible. Times are measured from the
first tweet of a pass; a tweet whose ``created_at`` is earlier than its predecessor's (X's
stream is not strictly ordered) is sent at once.

``loop=True`` starts again at the end of the file and repeats the same lines byte for byte:
ids and ``created_at`` repeat too, so a looped replay publishes the same tweets again.
Blank lines (the live stream's keep-alives) are passed over silently. A malformed line is
skipped with one warning naming its line number and counted in ``skipped`` (once, on the
first pass).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chirpstream.tweets import Envelope, MalformedTweet, parse_line

log = logging.getLogger(__name__)

NAP_S = 0.1  # longest single sleep, so close() takes effect promptly


class ReplaySource:
    name = "replay"

    def __init__(
        self,
        path: Path | str,
        speed: float | None = 1.0,
        loop: bool = False,
        clock: Any = time,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be positive (or None for max), got {speed}")
        self.path = Path(path)
        if not self.path.is_file():
            what = "is not a file" if self.path.exists() else "does not exist"
            raise FileNotFoundError(
                f"replay file {self.path} {what} (record one with --record FILE, or leave "
                "out --file to replay the shipped sample)"
            )
        self.speed = speed
        self.loop = loop
        self.clock = clock
        self.skipped = 0  # malformed lines in the file
        self.replayed = 0  # envelopes yielded, over all passes
        self.passes = 0  # passes started over the file
        self._closed = False

    def envelopes(self) -> Iterator[Envelope]:
        first_pass = True
        while not self._closed:
            self.passes += 1
            produced = False
            began = first_ms = 0.0
            with self.path.open("rb") as lines:
                for number, line in enumerate(lines, 1):
                    if self._closed:
                        return
                    if not line.strip():
                        continue
                    try:
                        envelope = parse_line(line)
                    except MalformedTweet as exc:
                        if first_pass:
                            self.skipped += 1
                            log.warning("replay: %s line %d skipped: %s", self.path, number, exc)
                        continue
                    if self.speed is not None:
                        if not produced:
                            began, first_ms = self.clock.monotonic(), envelope.created_at_ms
                        due = began + (envelope.created_at_ms - first_ms) / 1000.0 / self.speed
                        if not self._sleep_until(due):
                            return
                    produced = True
                    self.replayed += 1
                    yield envelope
            if not (self.loop and produced):
                return
            first_pass = False

    def _sleep_until(self, due: float) -> bool:
        """Sleep in short naps until ``due``; False when closed meanwhile."""
        while (wait := due - self.clock.monotonic()) > 0:
            self.clock.sleep(min(wait, NAP_S))
            if self._closed:
                return False
        return not self._closed

    def close(self) -> None:
        self._closed = True

    def summary(self) -> str:
        passes = f" in {self.passes} passes" if self.passes > 1 else ""
        return (
            f"replayed {self.replayed} tweets from {self.path}{passes}, "
            f"skipped {self.skipped} malformed lines"
        )
