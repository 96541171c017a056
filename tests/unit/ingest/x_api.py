"""What the x-stream and x-poll tests share: the fake token, a fake clock, fixture files.
The pytest fixtures that fake the X API live in this folder's conftest.py."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "x_api"
TOKEN = "AAAAAAAAAAAAAAAAAAAAAChirpstreamFakeToken%2Fq9ZtW4xv0Lk7"


class FakeClock:
    """``time`` for a source: sleeping only moves the hands."""

    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
