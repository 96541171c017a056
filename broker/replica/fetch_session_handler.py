"""The fetching side of a fetch session (KIP-227) with one leader, as Kafka's
``FetchSessionHandler`` keeps it: which partitions the next fetch must name, and with which
session id and epoch.

The first fetch is full (epoch 0): it names every partition, and the leader's answer may open
a session. Each later fetch is incremental (epoch 1, 2, ...): it names only the partitions
added or changed since the last one (a new fetch offset, leader epoch, ...) and forgets those
no longer wanted; the leader remembers the rest. A session error in the answer, or a failed
request, starts over with a full fetch: FETCH_SESSION_ID_NOT_FOUND (the leader restarted or
evicted the session) without a session id, any other error closing the old session by
naming it. An answer with session id 0 means the leader keeps no session (no free slot, or
it closed it): the next fetch is full again, and asks again.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from kio.schema.errors import ErrorCode

from broker.net.fetch_sessions import INITIAL_EPOCH, NO_SESSION, next_epoch

Key = TypeVar("Key", bound=Hashable)
Asked = TypeVar("Asked")  # what a fetch asks of one partition; equal when nothing changed


class FetchSessionHandler(Generic[Key, Asked]):
    """One fetcher's session with one leader."""

    def __init__(self) -> None:
        self.session_id = NO_SESSION
        self.epoch = INITIAL_EPOCH
        self._asked: dict[Key, Asked] = {}  # what the leader's session holds, as last sent

    @property
    def full(self) -> bool:
        """Whether the next fetch names every partition."""
        return self.epoch == INITIAL_EPOCH

    def build(self, wanted: Mapping[Key, Asked]) -> tuple[dict[Key, Asked], list[Key]]:
        """What the next fetch names (to fetch, to forget) so that the leader's session asks
        ``wanted``."""
        before, self._asked = self._asked, dict(wanted)
        if self.full:
            return dict(wanted), []
        changed = {
            key: asked
            for key, asked in wanted.items()
            if (held := before.get(key)) is not asked and held != asked
        }
        return changed, [key for key in before if key not in wanted]

    def handle_answer(self, error_code: int, session_id: int) -> bool:
        """Take the answer's top-level error and session id; False when its partitions must
        not be applied (a session error: the next fetch starts over)."""
        if error_code == ErrorCode.fetch_session_id_not_found:
            self.session_id, self.epoch = NO_SESSION, INITIAL_EPOCH
            return False
        if error_code != ErrorCode.none:
            self.epoch = INITIAL_EPOCH  # close this session and open another
            return False
        if session_id == NO_SESSION:
            self.session_id, self.epoch = NO_SESSION, INITIAL_EPOCH
        elif self.full:
            self.session_id, self.epoch = session_id, next_epoch(INITIAL_EPOCH)
        else:
            self.epoch = next_epoch(self.epoch)
        return True

    def handle_failure(self) -> None:
        """The fetch failed (no answer): the next one is full, closing this session."""
        self.epoch = INITIAL_EPOCH
