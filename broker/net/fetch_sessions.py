"""Incremental fetch sessions (KIP-227): the leader's memory of what each fetcher asks for.

A client that fetches the same partitions again and again (a follower's replica fetcher, a
consumer) opens a session with a full fetch of epoch 0; the answer names the session. Its
later fetches (epoch 1, 2, ...) carry only the partitions that changed (a new fetch offset, a
partition added) and the ones to forget (``forgotten_topics_data``); the session remembers
the rest. Their answers carry only the partitions with something to say: records, a high
watermark or log start offset other than the last one sent, a preferred read replica, a
diverging epoch or an error. An idle session's fetch therefore names and returns nothing.

The rules are Kafka's (``FetchManager.newContext`` and ``FetchSessionCache``):

* epoch -1 is a sessionless full fetch (librdkafka's): answered in full, session id 0; a
  session it names is closed;
* epoch 0 is a full fetch that closes the session it names, if any, and opens a new one when
  a slot is free (otherwise the answer's session id is 0 and the client stays in full mode);
* epoch n > 0 must name a known session (else FETCH_SESSION_ID_NOT_FOUND) at the epoch it
  expects (else INVALID_FETCH_SESSION_EPOCH), with topics named the way the session names them
  (by id from Fetch v13, by name before: else FETCH_SESSION_TOPIC_ID_ERROR); these errors are
  the answer's top-level error, with no partitions. An update that leaves a session empty
  closes it, and the fetch is answered as sessionless.

Eviction when all ``max.incremental.fetch.session.cache.slots`` are taken, as Kafka does it:
first the least recently used session if it has been idle for ``EVICTION_MS``; otherwise the
least valuable session, ordered by (privileged, partitions, last use), if the new one is worth
more: a follower's session (privileged) may evict any, a consumer's only a consumer's (Kafka
breaks a tie of size by session id; here the more recently used wins).

Sessions live in this broker's memory only: after a restart every client's next incremental
fetch gets FETCH_SESSION_ID_NOT_FOUND and starts over with a full fetch. Nothing here does
IO; the fetch handler reads the partitions and passes what it read back through
:meth:`FetchContext.answer`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kio.schema.errors import ErrorCode

NO_SESSION = 0  # INVALID_SESSION_ID: no session, or none created
INITIAL_EPOCH = 0  # a full fetch that asks for a session
FINAL_EPOCH = -1  # a full fetch without a session
EVICTION_MS = 120_000  # Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS

Key = Hashable  # a partition: (topic name or topic id, partition index)
Wanted = TypeVar("Wanted")  # what the fetch asks of one partition (offset, max bytes, ...)


class Answered:
    """What a partition's answer says, as far as a session cares."""

    __slots__ = ("error_code", "high_watermark", "log_start_offset", "records_size", "special")

    def __init__(
        self,
        error_code: int,
        high_watermark: int,
        log_start_offset: int,
        records_size: int,
        special: bool = False,
    ) -> None:
        self.error_code = error_code
        self.high_watermark = high_watermark
        self.log_start_offset = log_start_offset
        self.records_size = records_size
        self.special = special  # a preferred read replica or a diverging epoch to tell


@dataclass
class _Cached(Generic[Wanted]):
    wanted: Wanted
    high_watermark: int = -1  # as last sent; -1 after an error, so its end is told
    log_start_offset: int = -1


@dataclass
class FetchSession(Generic[Wanted]):
    """One session: its partitions in fetch order, and the epoch its next fetch must carry."""

    id: int
    privileged: bool  # a follower's
    uses_topic_ids: bool
    last_used_ms: int
    epoch: int = 1
    partitions: dict[Key, _Cached[Wanted]] = field(default_factory=dict)

    def worth(self) -> tuple[bool, int, int]:
        """Eviction order: the smallest is evicted first."""
        return (self.privileged, len(self.partitions), self.last_used_ms)


def next_epoch(epoch: int) -> int:
    """The epoch after ``epoch`` (it wraps to 1: 0 is a full fetch's)."""
    return 1 if epoch == 2**31 - 1 else epoch + 1


class FetchContext(Generic[Wanted]):
    """What one fetch reads (:attr:`partitions`, in order) and how its answer is shaped."""

    def __init__(
        self,
        cache: FetchSessionCache[Wanted],
        partitions: list[tuple[Key, Wanted]],
        *,
        error: int = ErrorCode.none,
        session: FetchSession[Wanted] | None = None,
        new_session: tuple[bool, bool] | None = None,
    ) -> None:
        self.partitions = partitions
        self.error = error
        self._cache = cache
        self._session = session
        self._new_session = new_session  # (privileged, uses_topic_ids) of a full fetch's

    @property
    def sessionless(self) -> bool:
        """A fetch with no session and none to open: its answer carries every partition."""
        return self._session is None and self._new_session is None

    def answer(self, answered: Sequence[tuple[Key, Answered]]) -> tuple[int, list[Key]]:
        """The session id to answer with and the partitions the answer carries, given what
        each partition read says (in :attr:`partitions` order)."""
        if self._new_session is not None:
            session = self._cache.create(*self._new_session, answered, self.partitions)
            return (session.id if session else NO_SESSION), [key for key, _ in answered]
        session = self._session
        if session is None:
            return NO_SESSION, [key for key, _ in answered]
        sent = []
        with_records = []
        for key, said in answered:
            cached = session.partitions.get(key)
            if cached is None or _must_respond(cached, said):
                sent.append(key)
                if said.records_size > 0:
                    with_records.append(key)
        for key in with_records:  # round robin: who got records fetches last next time
            session.partitions[key] = session.partitions.pop(key)
        return session.id, sent


def _must_respond(cached: _Cached[Any], said: Answered) -> bool:
    """Whether an incremental answer carries this partition (Kafka's
    ``CachedPartition.maybeUpdateResponseData``); what it tells is remembered."""
    must = said.records_size > 0 or said.special
    if cached.high_watermark != said.high_watermark:
        cached.high_watermark = said.high_watermark
        must = True
    if cached.log_start_offset != said.log_start_offset:
        cached.log_start_offset = said.log_start_offset
        must = True
    if said.error_code != ErrorCode.none:
        cached.high_watermark = -1
        must = True
    return must


class FetchSessionCache(Generic[Wanted]):
    """This broker's sessions, at most ``slots`` of them."""

    def __init__(
        self,
        slots: int,
        now_ms: Callable[[], int],
        *,
        new_id: Callable[[], int] = lambda: random.randint(1, 2**31 - 1),
    ) -> None:
        self.slots = slots
        self.now_ms = now_ms
        self._new_id = new_id
        self.sessions: dict[int, FetchSession[Wanted]] = {}
        self.created = 0  # sessions opened since start (tests and the curious read it)
        self.evicted = 0

    def context(
        self,
        session_id: int,
        epoch: int,
        wanted: Iterable[tuple[Key, Wanted]],
        forgotten: Iterable[Key],
        *,
        uses_topic_ids: bool,
        privileged: bool,
    ) -> FetchContext[Wanted]:
        """The context of a fetch naming ``session_id`` at ``epoch``, asking ``wanted`` and
        forgetting ``forgotten``."""
        if epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != NO_SESSION:
                self.sessions.pop(session_id, None)
            partitions = list(wanted)
            if epoch == FINAL_EPOCH or self.slots == 0:
                return FetchContext(self, partitions)
            return FetchContext(self, partitions, new_session=(privileged, uses_topic_ids))
        session = self.sessions.get(session_id)
        if session is None:
            return FetchContext(self, [], error=ErrorCode.fetch_session_id_not_found)
        if session.epoch != epoch:
            return FetchContext(self, [], error=ErrorCode.invalid_fetch_session_epoch)
        if session.uses_topic_ids != uses_topic_ids:
            return FetchContext(self, [], error=ErrorCode.fetch_session_topic_id_error)
        cached = session.partitions
        for key, asked in wanted:
            known = cached.get(key)
            if known is None:
                cached[key] = _Cached(asked)
            else:
                known.wanted = asked
        for key in forgotten:
            cached.pop(key, None)
        if not cached:
            del self.sessions[session.id]
            return FetchContext(self, [])
        session.last_used_ms = self.now_ms()
        session.epoch = next_epoch(session.epoch)
        partitions = [(key, entry.wanted) for key, entry in cached.items()]
        return FetchContext(self, partitions, session=session)

    def create(
        self,
        privileged: bool,
        uses_topic_ids: bool,
        answered: Sequence[tuple[Key, Answered]],
        partitions: Sequence[tuple[Key, Wanted]],
    ) -> FetchSession[Wanted] | None:
        """A new session holding ``partitions`` as ``answered`` told them, or None when no
        slot is free and none may be evicted for it."""
        now = self.now_ms()
        told = dict(answered)
        session = FetchSession[Wanted](self._free_id(), privileged, uses_topic_ids, now)
        for key, asked in partitions:
            said = told.get(key)
            cached = session.partitions[key] = _Cached(asked)
            if said is not None:
                cached.log_start_offset = said.log_start_offset
                if said.error_code == ErrorCode.none:
                    cached.high_watermark = said.high_watermark
        if len(self.sessions) >= self.slots and not self._evict_for(session, now):
            return None
        self.sessions[session.id] = session
        self.created += 1
        return session

    def _evict_for(self, new: FetchSession[Wanted], now: int) -> bool:
        oldest = min(self.sessions.values(), key=lambda s: s.last_used_ms, default=None)
        if oldest is None:
            return False
        if now - oldest.last_used_ms <= EVICTION_MS:
            evictable = [s for s in self.sessions.values() if new.privileged or not s.privileged]
            oldest = min(evictable, key=FetchSession.worth, default=None)
            if oldest is None or oldest.worth() >= new.worth():
                return False
        del self.sessions[oldest.id]
        self.evicted += 1
        return True

    def _free_id(self) -> int:
        while (session_id := self._new_id()) in self.sessions or session_id == NO_SESSION:
            pass
        return session_id
