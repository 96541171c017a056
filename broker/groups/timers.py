"""Where the coordinator's timers come from: the running asyncio loop, or a test's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle: ...


class LoopScheduler:
    """Timers on the running asyncio loop: use it from inside that loop."""

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay_s, callback)
