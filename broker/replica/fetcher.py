"""The follower's side of replication: fetchers that pull this node's followed partitions from
their leaders (Kafka's ``ReplicaFetcherManager`` and ``ReplicaFetcherThread``).

One asyncio task per leader broker fetches every partition this node follows from it, with
Fetch v12 as a replica (``replica_id`` = this node, ``current_leader_epoch``, and
``last_fetched_epoch`` from the local leader-epoch cache). For each partition of an answer:

* ``diverging_epoch``: the log is truncated where it leaves the leader's (KIP-320, by
  ``Replica.truncate_to_leader``), and the next fetch goes on from there;
* records: appended byte for byte (``Replica.append_as_follower``), a cut tail batch left for
  the next fetch; then the high watermark is the leader's, as far as the log reaches, and
  the log start follows the leader's up to it;
* OFFSET_OUT_OF_RANGE with the leader's log starting past this log's end (retention went
  past it): the log is emptied and starts there; when the leader's log starts inside its
  first batch, this empty log starts at that batch (both as Kafka's follower does);
* an error (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, ...: the two
  nodes' metadata differ for now), a refused batch or a failed append: that partition waits
  ``replica.fetch.backoff.ms`` and is fetched again, while the others go on.

A failed request (the leader unreachable) makes the whole fetcher wait the backoff and retry.

Each fetcher keeps a fetch session (KIP-227) with its leader (``FetchSessionHandler``): after
the first, full fetch, a fetch names only the partitions whose position changed, added ones
included, and forgets those that rest or moved away; the leader answers only partitions with
something to say, so an idle long poll names and returns none. A session error in the answer
starts over with a full fetch at once.

The replica manager says which partitions to follow from which leader as the metadata image
changes (``follow``/``unfollow``); an answer that arrives after its partition moved, changed
epoch or was truncated meanwhile is dropped. The fetcher needs its own connections (a
long-polling fetch holds its connection until the leader answers), given as ``clients``: any
object with ``get(node_id)`` returning something with ``async request(body, timeout_s=)``
and ``update(node_id, host, port)``, such as ``broker.net.client.NodeClients``; failures
are ``OSError`` (its ``ClientError`` is one).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as fetch_v12
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i8, i32, i64

from broker.clock import Clock
from broker.metadata.records import Endpoint
from broker.protocol.batch import BatchHeader, validate_replicated
from broker.protocol.errors import RecordError
from broker.replica.fetch_session_handler import FetchSessionHandler
from broker.replica.replica import Replica, Role
from broker.storage.errors import StorageError

log = logging.getLogger("broker.replica")

TopicPartition = tuple[str, int]


class Requester(Protocol):
    async def request(self, body: Any, *, timeout_s: float = ...) -> Any: ...


class Clients(Protocol):
    def get(self, node_id: int) -> Requester: ...

    def update(self, node_id: int, host: str, port: int) -> None: ...


@dataclass(frozen=True)
class FetcherConfig:
    """Kafka's replica fetcher settings, with Kafka's defaults."""

    max_wait_ms: int = 500  # replica.fetch.wait.max.ms
    min_bytes: int = 1  # replica.fetch.min.bytes
    max_bytes: int = 10 << 20  # replica.fetch.response.max.bytes
    partition_max_bytes: int = 1 << 20  # replica.fetch.max.bytes
    # replica.fetch.backoff.ms: Kafka's is 1000. Most errors a follower meets are a leader
    # that has not yet applied the image the follower has (a new topic, a new epoch), gone in
    # milliseconds: a classroom failover should not wait a second for them.
    backoff_ms: int = 100
    socket_timeout_ms: int = 30_000  # replica.socket.timeout.ms
    listener_name: str = "PLAINTEXT"  # inter.broker.listener.name


@dataclass
class _Followed:
    """A partition on a fetcher: its replica, the leader epoch it follows, until when (clock
    ms) it rests after an error, and that error (logged once, not at every retry)."""

    replica: Replica
    leader_epoch: int
    resting_until_ms: int = 0
    trouble: str | None = None
    # The last request partition built, and the positions it was built from: an idle
    # partition's is reused, not built again at every long poll.
    asked: tuple[tuple[int, int, int, int], Any] | None = None


class ReplicaFetcherManager:
    """This node's fetchers, one per leader it follows a partition of."""

    def __init__(
        self,
        node_id: int,
        clients: Clients,
        clock: Clock,
        config: FetcherConfig | None = None,
    ) -> None:
        self.node_id = node_id
        self.clients = clients
        self.clock = clock
        self.config = config or FetcherConfig()
        self._fetchers: dict[int, _LeaderFetcher] = {}
        self._leader_of: dict[TopicPartition, int] = {}

    def follow(self, replica: Replica, leader_endpoints: Iterable[Endpoint]) -> None:
        """Fetch ``replica``'s partition from its leader (``replica.leader_id``, reachable at
        the endpoint named ``listener_name`` among ``leader_endpoints``), from its log end
        on; a partition followed from another leader, or at another epoch, moves over."""
        key = (replica.topic, replica.index)
        leader = replica.leader_id
        if leader < 0:  # no leader for now: nothing to fetch from
            self.unfollow(key)
            return
        for endpoint in leader_endpoints:
            if endpoint.name == self.config.listener_name:
                self.clients.update(leader, endpoint.host, endpoint.port)
                break
        else:  # not registered yet: followed once it is (the manager sees to it)
            log.info(
                "%s-%d: leader %d has no %s listener yet; not fetching",
                *key,
                leader,
                self.config.listener_name,
            )
            self.unfollow(key)
            return
        if self._leader_of.get(key, leader) != leader:
            self.unfollow(key)
        fetcher = self._fetchers.get(leader)
        if fetcher is None:
            fetcher = self._fetchers[leader] = _LeaderFetcher(self, leader)
        fetcher.add(key, _Followed(replica, replica.leader_epoch))
        self._leader_of[key] = leader

    def unfollow(self, key: TopicPartition) -> None:
        """Stop fetching ``key`` (this node leads it now, or no longer holds it)."""
        leader = self._leader_of.pop(key, None)
        if leader is None:
            return
        fetcher = self._fetchers[leader]
        if fetcher.remove(key):
            del self._fetchers[leader]

    def followed(self) -> dict[TopicPartition, int]:
        """The partitions being fetched, and their leaders."""
        return dict(self._leader_of)

    async def close(self) -> None:
        """Stop every fetcher (an append in progress completes first)."""
        fetchers, self._fetchers = list(self._fetchers.values()), {}
        self._leader_of.clear()
        for fetcher in fetchers:
            fetcher.stop()
        await asyncio.gather(*(f.task for f in fetchers), return_exceptions=True)


class _LeaderFetcher:
    """The task that fetches from one leader."""

    def __init__(self, manager: ReplicaFetcherManager, leader_id: int) -> None:
        self.manager = manager
        self.leader_id = leader_id
        self.partitions: dict[TopicPartition, _Followed] = {}
        self._changed = asyncio.Event()
        self._unreachable = False  # the last request failed (logged once per outage)
        self.session: FetchSessionHandler[TopicPartition, Any] = FetchSessionHandler()
        config = manager.config
        # The fields every request repeats, made once: kio checks each typed value as it is
        # made, and an idle long poll is little more than these.
        self._fixed = {
            "replica_id": BrokerId(manager.node_id),
            "max_wait": datetime.timedelta(milliseconds=config.max_wait_ms),
            "min_bytes": i32(config.min_bytes),
            "max_bytes": i32(config.max_bytes),
            "isolation_level": i8(0),
        }
        self.task = asyncio.create_task(self._run(), name=f"replica-fetcher-{leader_id}")

    def add(self, key: TopicPartition, followed: _Followed) -> None:
        current = self.partitions.get(key)
        if current is None or current.replica is not followed.replica:
            self.partitions[key] = followed
        elif current.leader_epoch != followed.leader_epoch:
            current.leader_epoch = followed.leader_epoch
            current.resting_until_ms = 0  # the new epoch may be what the leader waited for
        self._changed.set()

    def remove(self, key: TopicPartition) -> bool:
        """Drop ``key``; True when nothing is left, and the task has been stopped."""
        self.partitions.pop(key, None)
        if self.partitions:
            return False
        self.stop()
        return True

    def stop(self) -> None:
        self.task.cancel()

    async def _run(self) -> None:
        manager = self.manager
        config = manager.config
        while True:
            now = manager.clock.now_ms()
            ready = {k: f for k, f in self.partitions.items() if f.resting_until_ms <= now}
            if not ready:
                rest = min((f.resting_until_ms for f in self.partitions.values()), default=now)
                await self._wait((rest - now) / 1000 if rest > now else None)
                continue
            request, sent = self._request(ready)
            try:
                client = manager.clients.get(self.leader_id)
                answer = await client.request(request, timeout_s=config.socket_timeout_ms / 1000)
            except OSError as err:
                self.session.handle_failure()
                if not self._unreachable:
                    log.warning(
                        "fetch from leader %d failed (%s); retrying every %d ms",
                        self.leader_id,
                        err,
                        config.backoff_ms,
                    )
                    self._unreachable = True
                await self._wait(config.backoff_ms / 1000, wake_on_change=False)
                continue
            if self._unreachable:
                log.info("fetching from leader %d again", self.leader_id)
                self._unreachable = False
            if not self.session.handle_answer(answer.error_code, answer.session_id):
                log.info(
                    "leader %d refused fetch session %d: %s; fetching in full again",
                    self.leader_id,
                    request.session_id,
                    ErrorCode(answer.error_code).name,
                )
                continue
            for topic in answer.responses:
                for data in topic.partitions:
                    key = (topic.topic, data.partition_index)
                    followed = sent.get(key)
                    if followed is None or self.partitions.get(key) is not followed[0]:
                        continue
                    try:
                        self._process(key, followed[0], followed[1], data)
                    except Exception as err:  # one partition's trouble never stops the rest
                        log.exception("%s-%d: cannot apply the leader's answer", *key)
                        self._rest(followed[0], repr(err), logging.ERROR)

    async def _wait(self, timeout_s: float | None, *, wake_on_change: bool = True) -> None:
        """Sleep on the clock for ``timeout_s`` (None: until woken), or until partitions
        change when ``wake_on_change``."""
        loop = asyncio.get_running_loop()
        waiters: list[asyncio.Future[Any]] = []
        timer = None
        if timeout_s is not None:
            slept: asyncio.Future[None] = loop.create_future()
            timer = self.manager.clock.call_later(
                timeout_s, lambda: slept.done() or slept.set_result(None)
            )
            waiters.append(slept)
        if wake_on_change:
            self._changed.clear()
            waiters.append(asyncio.ensure_future(self._changed.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if timer is not None:
                timer.cancel()
            for waiter in waiters:
                waiter.cancel()

    def _request(
        self, ready: dict[TopicPartition, _Followed]
    ) -> tuple[Any, dict[TopicPartition, tuple[_Followed, int]]]:
        """The Fetch v12 request for ``ready`` in this fetcher's session, and what each
        partition asks from (named in the request or remembered by the session)."""
        config = self.manager.config
        wanted: dict[TopicPartition, Any] = {}
        sent: dict[TopicPartition, tuple[_Followed, int]] = {}
        for key, followed in ready.items():
            replica = followed.replica
            offset = replica.log_end_offset
            sent[key] = (followed, offset)
            position = (
                offset,
                followed.leader_epoch,
                replica.last_fetched_epoch,
                replica.log_start_offset,
            )
            if followed.asked is None or followed.asked[0] != position:
                partition = fetch_v12.FetchPartition(
                    partition=i32(key[1]),
                    current_leader_epoch=i32(position[1]),
                    fetch_offset=i64(offset),
                    last_fetched_epoch=i32(position[2]),
                    log_start_offset=i64(position[3]),
                    partition_max_bytes=i32(config.partition_max_bytes),
                )
                followed.asked = (position, partition)
            wanted[key] = followed.asked[1]
        session = self.session
        session_id, epoch = session.session_id, session.epoch
        named, forgotten = session.build(wanted)
        request = fetch_v12.FetchRequest(
            **self._fixed,
            session_id=i32(session_id),
            session_epoch=i32(epoch),
            topics=tuple(
                fetch_v12.FetchTopic(topic=TopicName(name), partitions=tuple(parts))
                for name, parts in _by_topic(named.items()).items()
            ),
            forgotten_topics_data=tuple(
                fetch_v12.ForgottenTopic(topic=TopicName(name), partitions=tuple(parts))
                for name, parts in _by_topic((key, i32(key[1])) for key in forgotten).items()
            ),
        )
        return request, sent

    def _process(self, key: TopicPartition, followed: _Followed, offset: int, data: Any) -> None:
        replica = followed.replica
        if (
            replica.role is not Role.FOLLOWER
            or replica.leader_epoch != followed.leader_epoch
            or replica.log_end_offset != offset
        ):
            return  # the partition changed while the fetch was out: the answer is stale
        manager = self.manager
        error = data.error_code
        if error == ErrorCode.offset_out_of_range and data.log_start_offset > offset:
            log.info(
                "%s-%d: leader %d's log starts at %d, past this log's end %d; starting over there",
                *key,
                self.leader_id,
                data.log_start_offset,
                offset,
            )
            replica.start_at(data.log_start_offset)
            return
        if error != ErrorCode.none:  # the two nodes' metadata differ, for now
            self._rest(followed, f"the leader answered {error.name}", logging.INFO)
            return
        diverging = data.diverging_epoch
        if diverging.epoch >= 0:
            end = replica.truncate_to_leader(diverging.epoch, diverging.end_offset)
            log.info(
                "%s-%d: truncated to offset %d, where the log leaves leader %d's (epoch %d ends "
                "at %d there)",
                *key,
                end,
                self.leader_id,
                diverging.epoch,
                diverging.end_offset,
            )
            followed.trouble = None
            return
        records = data.records
        if records:
            try:
                headers = validate_replicated(records)
                if headers and _straddles_empty_log(replica, headers[0]):
                    replica.start_at(headers[0].base_offset)
                replica.append_as_follower(records, headers, manager.clock.now_ms())
            except (RecordError, StorageError) as err:
                self._rest(followed, str(err), logging.WARNING)
                return
        replica.follow_high_watermark(data.high_watermark)
        replica.follow_log_start(data.log_start_offset)
        followed.trouble = None

    def _rest(self, followed: _Followed, why: str, level: int) -> None:
        replica = followed.replica
        backoff = self.manager.config.backoff_ms
        followed.resting_until_ms = self.manager.clock.now_ms() + backoff
        if why == followed.trouble:
            return
        followed.trouble = why
        log.log(
            level,
            "%s-%d: fetch from leader %d failed: %s; retrying every %d ms",
            replica.topic,
            replica.index,
            self.leader_id,
            why,
            backoff,
        )


def _by_topic(items: Iterable[tuple[TopicPartition, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for (topic, _), item in items:
        grouped.setdefault(topic, []).append(item)
    return grouped


def _straddles_empty_log(replica: Replica, first: BatchHeader) -> bool:
    """Whether the leader's first batch holds this empty log's start without starting there:
    the leader's log starts inside that batch (Kafka's follower then starts its log at the
    batch's base offset)."""
    end = replica.log_end_offset
    return end == replica.log_start_offset and first.base_offset < end <= first.last_offset
