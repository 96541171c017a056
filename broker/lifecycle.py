"""A cluster broker's life as the controller sees it: registered, fenced or not, shutting down.

As Kafka's ``BrokerLifecycleManager``: the broker registers (BrokerRegistration, with a new
incarnation id each start) with the active controller and gets its broker epoch; then it sends
a BrokerHeartbeat every ``broker.heartbeat.interval.ms``, reporting the last metadata-log
offset it has applied. The controller unfences it once that offset reaches its registration
(it has caught up) and fences it when heartbeats stop for ``broker.session.timeout.ms``.
As in Kafka, a broker that has not caught up yet heartbeats again after 10 ms, so it starts
serving as soon as it may, and one waiting for its controlled shutdown after 50 ms (Kafka: the
first time only), so a rolling restart waits for the controller, not for the interval.
A heartbeat answered STALE_BROKER_EPOCH or BROKER_ID_NOT_REGISTERED registers again;
DUPLICATE_BROKER_REGISTRATION (the previous incarnation's lease is still alive) is retried.

Controlled shutdown (SIGTERM): heartbeats ask ``want_shut_down`` until the controller answers
``should_shut_down`` (it has moved this broker's leaderships away and every other broker has
seen the move), bounded by a deadline; only then does the node stop serving.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from kio.schema.broker_heartbeat.v0.request import BrokerHeartbeatRequest
from kio.schema.broker_heartbeat.v0.response import BrokerHeartbeatResponse
from kio.schema.broker_registration.v0 import request as registration
from kio.schema.errors import ErrorCode

from broker.clock import Clock, sleep
from broker.metadata.records import Endpoint
from broker.net.forwarding import ControllerChannel, ControllerUnavailable

log = logging.getLogger("broker.lifecycle")

CATCHING_UP_S = 0.010
SHUTTING_DOWN_S = 0.050
_REGISTER_AGAIN = (ErrorCode.stale_broker_epoch, ErrorCode.broker_id_not_registered)


class BrokerLifecycle:
    def __init__(
        self,
        *,
        node_id: int,
        cluster_id: str,
        endpoints: tuple[Endpoint, ...],
        channel: ControllerChannel,
        clock: Clock,
        metadata_offset: Callable[[], int],
        heartbeat_interval_ms: int,
        rack: str | None = None,
    ) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.endpoints = endpoints
        self._channel = channel
        self._clock = clock
        self._metadata_offset = metadata_offset
        self._interval_s = heartbeat_interval_ms / 1000
        self._rack = rack
        self.incarnation_id = uuid.uuid4()
        self.broker_epoch = -1
        self.fenced = True
        self.caught_up = False
        self._want_shut_down = False
        self._shut_down = asyncio.Event()  # the controller said should_shut_down
        self._unfenced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event = asyncio.Event()  # heartbeat now, not at the next interval

    def start(self) -> None:
        """Register, then heartbeat in the background until :meth:`stop`."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_unfenced(self) -> None:
        """Return once the controller has unfenced this broker (it may lead and be in ISRs)."""
        await self._unfenced.wait()

    async def controlled_shutdown(self, timeout_s: float) -> bool:
        """Ask the controller to move this broker's leaderships away and wait (at most
        ``timeout_s``) until it says this broker may stop. True if it did."""
        if self._task is None or self.broker_epoch < 0:
            return False
        self._want_shut_down = True
        self._wake.set()
        try:
            async with asyncio.timeout(timeout_s):
                await self._shut_down.wait()
        except TimeoutError:
            log.warning(
                "controlled shutdown: the controller did not finish moving this broker's "
                "leaderships within %g s; stopping anyway",
                timeout_s,
            )
            return False
        log.info("controlled shutdown: the controller moved this broker's leaderships")
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        await self._register()
        while not self._shut_down.is_set():
            self._wake.clear()  # a wish made from here on is in the next heartbeat or this one
            answer = await self._heartbeat()
            if answer is not None and answer.error_code in _REGISTER_AGAIN:
                log.warning("heartbeat refused (%s): registering again", answer.error_code.name)
                self._set_fenced(True)
                await self._register()
                continue
            await self._pause(self._next_heartbeat_s(answer))

    def _next_heartbeat_s(self, answer: BrokerHeartbeatResponse | None) -> float:
        """When the next heartbeat is due (Kafka's BrokerLifecycleManager schedule)."""
        if answer is None or answer.error_code != ErrorCode.none:
            return self._interval_s
        if not answer.is_caught_up:
            return min(self._interval_s, CATCHING_UP_S)
        if self._want_shut_down and not answer.should_shut_down:
            return min(self._interval_s, SHUTTING_DOWN_S)
        return self._interval_s

    async def _pause(self, delay_s: float) -> None:
        """Until the next heartbeat is due, or one is wanted now (a controlled shutdown)."""
        timer = self._clock.call_later(delay_s, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    async def _register(self) -> None:
        request = registration.BrokerRegistrationRequest(
            broker_id=self.node_id,
            cluster_id=self.cluster_id,
            incarnation_id=self.incarnation_id,
            listeners=tuple(
                registration.Listener(
                    name=e.name, host=e.host, port=e.port, security_protocol=e.security_protocol
                )
                for e in self.endpoints
            ),
            features=(),
            rack=self._rack,
        )
        while True:
            try:
                answer = await self._channel.send(request)
            except ControllerUnavailable as err:
                log.info("registration: %s; retrying", err)
                continue
            if answer.error_code == ErrorCode.none:
                self.broker_epoch = answer.broker_epoch
                log.info("registered with the controller: broker epoch %d", self.broker_epoch)
                return
            log.info("registration refused (%s); retrying", answer.error_code.name)
            await sleep(self._clock, self._interval_s)

    async def _heartbeat(self) -> BrokerHeartbeatResponse | None:
        request = BrokerHeartbeatRequest(
            broker_id=self.node_id,
            broker_epoch=self.broker_epoch,
            current_metadata_offset=self._metadata_offset(),
            want_fence=False,
            want_shut_down=self._want_shut_down,
        )
        try:
            answer = await self._channel.send(request, timeout_s=self._interval_s * 4)
        except ControllerUnavailable as err:
            log.debug("heartbeat: %s", err)
            return None
        if answer.error_code != ErrorCode.none:
            return answer
        self.caught_up = answer.is_caught_up
        self._set_fenced(answer.is_fenced)
        if answer.should_shut_down:
            self._shut_down.set()
        return answer

    def _set_fenced(self, fenced: bool) -> None:
        if fenced != self.fenced:
            log.info("the controller %s this broker", "fenced" if fenced else "unfenced")
        self.fenced = fenced
        if fenced:
            self._unfenced.clear()
        else:
            self._unfenced.set()
