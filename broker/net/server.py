"""A listening socket: accepts connections, caps their number, closes idle ones. A node runs
one ``Server`` per listener: PLAINTEXT with the client handlers, and in a cluster CONTROLLER
with the controller-listener handlers, each with its own context and registry.

Accepting is a loop of its own rather than asyncio's: at the file-descriptor limit
(EMFILE and friends) asyncio's accept logs a traceback per attempt and schedules a retry per
attempt, which floods the log and starves the loop. Here a failed accept is logged once per
``LIMIT_LOG_INTERVAL_S`` (with a count of the attempts since), accepting backs off for
``ACCEPT_RETRY_S`` while existing connections keep being served, and the first accept that
succeeds after a reported failure says so. Pending clients wait in the kernel's backlog.

On SIGUSR1 it logs one ``STATS connections=N tasks=M`` line: how leak tests count what is
left after clients come and go, without a debug endpoint.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import time

from broker.net.connection import Connection
from broker.net.context import ListenerContext
from broker.net.memory import RequestMemory
from broker.net.registry import Registry

log = logging.getLogger("broker.net")

ACCEPT_BATCH = 128  # accepts per wake-up: a burst of clients is not spread over many
ACCEPT_RETRY_S = 0.1
LIMIT_LOG_INTERVAL_S = 10.0
MIN_IDLE_CHECK_S = 0.1  # connections.max.idle.ms=0 must not spin
_FD_LIMITS = {errno.EMFILE: "this process's", errno.ENFILE: "the system's"}


async def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: a free one), not accepting yet: the
    node learns its port and registers before it serves anyone."""
    loop = asyncio.get_running_loop()
    family, _, _, _, address = (
        await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    )[0]
    listening = socket.create_server(address, family=family, backlog=1024)
    listening.setblocking(False)
    return listening


class Server:
    def __init__(
        self, context: ListenerContext, registry: Registry, listening: socket.socket
    ) -> None:
        """``listening``: the socket :func:`bind` made."""
        self._context = context
        self._registry = registry
        self._memory = RequestMemory(context.config.queued_max_request_bytes)
        self._socket = listening
        self.connections: set[Connection] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._starting: set[asyncio.Task[None]] = set()  # accepted, transport being made
        self._failing_since: float | None = None  # when accepting began to fail
        self._failure_reported = False  # this spell of failures was logged
        self._failures_unlogged = 0
        self._last_report: float | None = None

    def start(self) -> None:
        """Accept connections on the bound socket."""
        config = self._context.config
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._accept(self._socket)))
        if config.connections_max_idle_ms >= 0:  # Kafka: below 0 never closes idle ones
            self._tasks.append(loop.create_task(self._close_idle()))
        loop.add_signal_handler(signal.SIGUSR1, self._log_stats)

    def _log_stats(self) -> None:
        log.info("STATS connections=%d tasks=%d", len(self.connections), len(asyncio.all_tasks()))

    async def _accept(self, listener: socket.socket) -> None:
        """Wait until clients are pending, accept up to ``ACCEPT_BATCH`` of them, repeat."""
        loop = asyncio.get_running_loop()
        while True:
            await _readable(loop, listener)
            for _ in range(ACCEPT_BATCH):
                try:
                    sock, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break  # none left
                except ConnectionAbortedError:
                    continue  # the client gave up before we accepted it
                except OSError as exc:
                    self._accept_failed(exc)
                    await asyncio.sleep(ACCEPT_RETRY_S)
                    break
                self._accept_succeeded()
                task = loop.create_task(self._start_connection(sock))
                self._starting.add(task)
                task.add_done_callback(self._starting.discard)

    async def _start_connection(self, sock: socket.socket) -> None:
        try:
            # No Nagle, as Kafka's own sockets. asyncio turns it off only on sockets made with
            # proto=IPPROTO_TCP, and socket.create_server's have proto 0: a Fetch answer goes
            # out in several writes, and the tail of one then waited for the peer's delayed
            # ACK (40 ms on Linux), every replica fetch with records included.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await asyncio.get_running_loop().connect_accepted_socket(self._new_connection, sock)
        except OSError:
            sock.close()  # reset before its transport existed: nothing to serve

    def _accept_succeeded(self) -> None:
        if self._failing_since is not None:
            if self._failure_reported:
                log.warning(
                    "accepting connections again after %.1f s",
                    time.monotonic() - self._failing_since,
                )
            self._failing_since = None

    def _accept_failed(self, exc: OSError) -> None:
        now = time.monotonic()
        self._failures_unlogged += 1
        if self._failing_since is None:
            self._failing_since = now
            self._failure_reported = False
        if self._last_report is not None and now - self._last_report < LIMIT_LOG_INTERVAL_S:
            return
        whose = _FD_LIMITS.get(exc.errno)
        limit = f" ({whose} file-descriptor limit)" if whose else ""
        log.warning(
            "cannot accept connections: %s%s; %d attempt(s) failed since the last report; "
            "existing connections are still served, retrying every %.1f s",
            exc.strerror or exc,
            limit,
            self._failures_unlogged,
            ACCEPT_RETRY_S,
        )
        self._failures_unlogged = 0
        self._last_report = now
        self._failure_reported = True

    def _new_connection(self) -> Connection:
        limit = self._context.config.max_connections
        refuse = len(self.connections) >= limit
        if refuse:
            log.warning("refusing a connection: max.connections=%d reached", limit)
        connection = Connection(
            self._context, self._registry, self._memory, self.connections.discard, refuse=refuse
        )
        self.connections.add(connection)
        return connection

    async def _close_idle(self) -> None:
        limit = self._context.config.connections_max_idle_ms / 1000
        while True:
            await asyncio.sleep(min(max(limit, MIN_IDLE_CHECK_S), 30.0))
            cutoff = time.monotonic() - limit
            for connection in [c for c in self.connections if c.last_active < cutoff]:
                log.info("closing %s: idle for over %.0f s", connection.peer, limit)
                connection.close()

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._starting]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._tasks:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
        self._socket.close()
        for connection in list(self.connections):
            connection.close()


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Return once ``sock`` has something to read (for a listener: a pending client)."""
    ready = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())
