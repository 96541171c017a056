"""What every tweet source is: an iterator of envelopes, paced by the source itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from chirpstream.tweets import Envelope


class TweetSource(Protocol):
    """``simulate``, ``replay``, ``x-stream`` and ``x-poll`` all look like this.

    ``envelopes()`` yields tweets as they become due (a source sleeps to keep its pace, or
    blocks on the network) and ends when the source is exhausted or ``close()`` is called
    from another thread or a signal handler. Live sources count ``reads`` for the cost
    estimate.
    """

    name: str

    def envelopes(self) -> Iterator[Envelope]: ...

    def close(self) -> None: ...
