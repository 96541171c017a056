"""``queued.max.request.bytes``: the bytes of requests read but not yet answered, broker-wide.

A connection reserves a frame's declared size as soon as its 4-byte size has arrived and
before it reads the rest, as Kafka's memory pool does; a frame that does not fit waits, its
connection not reading, until earlier requests have been answered. Waiters are served first
come, first served, so a large request is not starved by small ones. Bytes that already
arrived together with an earlier frame are counted as they come (``take``): a connection
reads at most one socket read ahead of what it reserved. With a capacity of 0 or below every
reservation succeeds at once (Kafka's ``-1``, no bound).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class RequestMemory:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._waiting: deque[tuple[int, Callable[[int], None]]] = deque()

    def _fits(self, size: int) -> bool:
        return self.capacity <= 0 or self.used + size <= self.capacity

    def reserve(self, size: int, granted: Callable[[int], None]) -> bool:
        """Reserve ``size`` bytes now (True), or call ``granted(size)`` once they are reserved."""
        if not self._waiting and self._fits(size):
            self.used += size
            return True
        self._waiting.append((size, granted))
        return False

    def take(self, size: int) -> None:
        """Count bytes that are already in memory (they cannot wait)."""
        self.used += size

    def release(self, size: int) -> None:
        self.used -= size
        self._grant()

    def cancel(self, granted: Callable[[int], None]) -> None:
        """Forget a waiter whose connection closed."""
        self._waiting = deque(w for w in self._waiting if w[1] != granted)
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self._fits(self._waiting[0][0]):
            size, granted = self._waiting.popleft()
            self.used += size
            granted(size)
