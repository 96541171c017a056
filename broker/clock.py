"""The one clock and scheduler behind everything with a timeout.

Group heartbeats and rebalance delays, the background duties (retention, flush, checkpoints),
and later ISR lag, elections, delayed produce and delayed fetch all ask a :class:`Clock` for
the time and for timers. :class:`SystemClock` is the real one, on the running asyncio loop;
:class:`ManualClock` moves only when a test calls ``advance``, firing due timers in order, so
timing logic is tested without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("broker.clock")


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the epoch (record timestamps use it)."""
        ...

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once, ``delay_s`` seconds from now, unless cancelled first."""
        ...


class SystemClock:
    """The real time, and timers on the running asyncio loop (call it from inside that loop)."""

    @staticmethod
    def now_ms() -> int:
        return time.time_ns() // 1_000_000

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay_s, callback)


class _Timer:
    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: int, callback: Callable[[], object]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock whose time moves only in :meth:`advance`, for unit tests."""

    def __init__(self, start_ms: int = 0) -> None:
        self.now = start_ms
        self._heap: list[tuple[int, int, _Timer]] = []
        self._sequence = itertools.count()  # timers due at the same time fire in order made

    def now_ms(self) -> int:
        return self.now

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        timer = _Timer(self.now + round(delay_s * 1000), callback)
        heapq.heappush(self._heap, (timer.due, next(self._sequence), timer))
        return timer

    def advance(self, ms: int) -> None:
        """Move time on by ``ms``, firing due timers in order (and those they schedule)."""
        target = self.now + ms
        while self._heap and self._heap[0][0] <= target:
            due, _, timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                self.now = due
                timer.callback()
        self.now = target

    @property
    def live_timers(self) -> int:
        return sum(not timer.cancelled for _, _, timer in self._heap)


def sleep(clock: Clock, seconds: float) -> asyncio.Future[None]:
    """A future that completes ``seconds`` from now on ``clock`` (``asyncio.sleep`` on the
    injected clock; on a manual clock it completes when the test advances past it)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    clock.call_later(seconds, lambda: done.done() or done.set_result(None))
    return done


class Repeating:
    """``duty`` every ``interval_ms`` on ``clock`` until cancelled; a duty that raises is
    logged and runs again at its next turn (Kafka's scheduler does the same)."""

    def __init__(self, clock: Clock, interval_ms: int, duty: Callable[[], object]) -> None:
        self._clock = clock
        self._interval_s = interval_ms / 1000
        self._duty = duty
        self._timer: TimerHandle | None = clock.call_later(self._interval_s, self._run)

    def _run(self) -> None:
        try:
            self._duty()
        except Exception:
            log.exception("background duty failed; it will run again")
        if self._timer is not None:
            self._timer = self._clock.call_later(self._interval_s, self._run)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
