"""ISR changes of the partitions this node leads, sent to the controller as AlterPartition.

Kafka's ``Partition.maybeShrinkIsr`` / ``maybeExpandIsr`` with its ``AlterPartitionManager``:

- a periodic pass (every ``replica.lag.time.max.ms`` / 2, on the node's clock) proposes to
  drop the ISR members not caught up within ``replica.lag.time.max.ms``, and to add the
  replicas that caught up;
- a follower's fetch that makes it a candidate proposes to add it at once (``expand``);
- only registered, unfenced brokers not shutting down may join (KIP-841);
- each partition has at most one proposal in flight (``Replica.pending_isr``), sent with the
  leader epoch and partition epoch the node holds; proposals made while a request is out wait
  and go together in the next one (one AlterPartition in flight per node);
- the controller's answer is applied at once when it still fits the partition
  (``Replica.isr_accepted``); the image carrying the same change comes later and agrees;
- a refusal is handled as Kafka does (``Replica.isr_refused``); a failed send, a top-level
  error or a partition left out of the answer is sent again after a short pause.

The sender is injected: the node hands in its channel to the active controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from kio.schema.alter_partition.v3.request import (
    AlterPartitionRequest,
    BrokerState,
    PartitionData,
    TopicData,
)
from kio.schema.alter_partition.v3.response import AlterPartitionResponse
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32, i64

from broker.clock import Clock
from broker.metadata.image import MetadataImage
from broker.replica.isr import PendingIsr
from broker.replica.replica import Replica, Role

log = logging.getLogger("broker.isr")

AlterPartitionSender = Callable[[AlterPartitionRequest], Awaitable[AlterPartitionResponse]]
RETRY_BACKOFF_MS = 100  # Kafka's retry.backoff.ms


class IsrUpdater:
    """Proposes and sends the ISR changes of the partitions led by ``node_id``. ``image``
    gives the latest metadata image (topic ids, brokers and this node's broker epoch)."""

    def __init__(
        self,
        node_id: int,
        clock: Clock,
        send: AlterPartitionSender,
        image: Callable[[], MetadataImage],
        max_lag_ms: int,
    ) -> None:
        self._node_id = node_id
        self._clock = clock
        self._send = send
        self._image = image
        self._max_lag_ms = max_lag_ms
        self._unsent: dict[tuple[str, int], tuple[Replica, PendingIsr]] = {}
        self._retry: dict[tuple[str, int], tuple[Replica, PendingIsr]] = {}
        self._sender: asyncio.Task[None] | None = None

    # -- deciding ---------------------------------------------------------------------

    def isr_pass(self, replicas: Iterable[Replica]) -> None:
        """The periodic duty: propose shrinking or expanding the ISR of every partition led
        here that needs it."""
        for replica in replicas:
            if replica.role is not Role.LEADER or replica.pending_isr is not None:
                continue
            out = replica.shrink_candidates(self._max_lag_ms)
            if out:
                log.info(
                    "shrinking the ISR of %s-%d from %s: %s not caught up within %d ms "
                    "(high watermark %d, log end %d)",
                    replica.topic,
                    replica.index,
                    sorted(replica.isr),
                    sorted(out),
                    self._max_lag_ms,
                    replica.high_watermark,
                    replica.log_end_offset,
                )
                self._propose(replica, replica.isr - out)
            else:
                self.expand(replica)

    def expand(self, replica: Replica) -> None:
        """Propose adding the replicas of ``replica`` that caught up and may join."""
        image = self._image()
        joining = {node for node in replica.expand_candidates() if _eligible(image, node)}
        if joining:
            log.info(
                "expanding the ISR of %s-%d from %s with %s",
                replica.topic,
                replica.index,
                sorted(replica.isr),
                sorted(joining),
            )
            self._propose(replica, replica.isr | joining)

    def _propose(self, replica: Replica, isr: frozenset[int]) -> None:
        pending = replica.propose_isr(isr)
        self._unsent[(replica.topic, replica.index)] = (replica, pending)
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_all())

    # -- sending ----------------------------------------------------------------------

    async def _send_all(self) -> None:
        """Send what is unsent, one request at a time, until nothing is left."""
        try:
            while self._unsent or self._retry:
                if not self._unsent:  # only retries left: pause first
                    await self._pause(RETRY_BACKOFF_MS)
                self._unsent.update(self._retry)
                self._retry.clear()
                batch = {
                    key: (replica, pending)
                    for key, (replica, pending) in self._unsent.items()
                    # not replaced by a newer image, still led here
                    if replica.pending_isr is pending and replica.role is Role.LEADER
                }
                self._unsent.clear()
                if batch:
                    await self._send_batch(batch)
        finally:
            self._sender = None

    async def _send_batch(self, batch: dict[tuple[str, int], tuple[Replica, PendingIsr]]) -> None:
        image = self._image()
        request, sent = self._request(image, batch)
        if not sent:
            return
        try:
            response = await self._send(request)
        except Exception as exc:  # no controller reachable, or any fault: never stay stuck
            log.warning("AlterPartition to the controller failed (%r); retrying", exc)
            self._retry.update(sent)
            return
        if response.error_code != ErrorCode.none:
            log.warning("the controller refused AlterPartition with %s; retrying",
                        response.error_code.name)  # fmt: skip
            self._retry.update(sent)
            return
        by_id = {(topic.topic_id, part.partition_index): part for topic in response.topics
                 for part in topic.partitions}  # fmt: skip
        for key, (replica, pending) in sent.items():
            topic = image.topics.get(key[0])
            answer = None if topic is None else by_id.get((topic.topic_id, key[1]))
            if answer is None:
                self._retry[key] = (replica, pending)
            elif answer.error_code == ErrorCode.none:
                if replica.isr_accepted(
                    pending, answer.leader_epoch, answer.isr, answer.partition_epoch
                ):
                    log.info("the ISR of %s-%d is now %s (partition epoch %d)", *key,
                             sorted(replica.isr), replica.partition_epoch)  # fmt: skip
            else:
                log.info("the controller refused the ISR %s for %s-%d: %s",
                         sorted(pending.isr), *key, answer.error_code.name)  # fmt: skip
                if replica.isr_refused(pending, answer.error_code):
                    self._retry[key] = (replica, pending)

    def _request(
        self, image: MetadataImage, batch: dict[tuple[str, int], tuple[Replica, PendingIsr]]
    ) -> tuple[AlterPartitionRequest, dict[tuple[str, int], tuple[Replica, PendingIsr]]]:
        """The AlterPartition request for ``batch``, and what of it was put in (a topic the
        image no longer holds is left out: its replica is gone with the next image)."""
        me = image.brokers.get(self._node_id)
        topics: dict[str, list[PartitionData]] = {}
        sent = {}
        for key, (replica, pending) in batch.items():
            if key[0] not in image.topics:
                continue
            sent[key] = (replica, pending)
            topics.setdefault(key[0], []).append(
                PartitionData(
                    partition_index=i32(key[1]),
                    leader_epoch=i32(pending.leader_epoch),
                    # -1: the follower's epoch is not checked (its fetches do not carry it)
                    new_isr_with_epochs=tuple(
                        BrokerState(broker_id=i32(node)) for node in sorted(pending.isr)
                    ),
                    partition_epoch=i32(pending.partition_epoch),
                )
            )
        request = AlterPartitionRequest(
            broker_id=i32(self._node_id),
            broker_epoch=i64(-1 if me is None else me.epoch),
            topics=tuple(
                TopicData(topic_id=image.topics[name].topic_id, partitions=tuple(partitions))
                for name, partitions in topics.items()
            ),
        )
        return request, sent

    async def _pause(self, ms: int) -> None:
        waited: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self._clock.call_later(
            ms / 1000, lambda: None if waited.done() else waited.set_result(None)
        )
        try:
            await waited
        finally:
            timer.cancel()

    async def close(self) -> None:
        """Stop sending (the node is stopping)."""
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender


def _eligible(image: MetadataImage, node: int) -> bool:
    """Whether ``node`` may join an ISR: registered, unfenced, not shutting down (KIP-841)."""
    broker = image.brokers.get(node)
    return broker is not None and not broker.fenced and not broker.in_controlled_shutdown
