"""The listening socket: accepts connections, caps their number, closes idle ones.

On SIGUSR1 it logs one ``STATS connections=N tasks=M`` line: how leak tests count what is
left after clients come and go, without a debug endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from broker.net.connection import Connection
from broker.net.context import Context

log = logging.getLogger("broker.net")


class Server:
    def __init__(self, context: Context) -> None:
        self._context = context
        self._server: asyncio.Server | None = None
        self.connections: set[Connection] = set()
        self._reaper: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        config = self._context.config
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection, config.host, config.port, reuse_address=True, backlog=1024
        )
        self._reaper = loop.create_task(self._close_idle())
        loop.add_signal_handler(signal.SIGUSR1, self._log_stats)

    def _log_stats(self) -> None:
        log.info("STATS connections=%d tasks=%d", len(self.connections), len(asyncio.all_tasks()))

    def _new_connection(self) -> Connection:
        limit = self._context.config.max_connections
        refuse = len(self.connections) >= limit
        if refuse:
            log.warning("refusing a connection: max.connections=%d reached", limit)
        connection = Connection(self._context, self.connections.discard, refuse=refuse)
        self.connections.add(connection)
        return connection

    async def _close_idle(self) -> None:
        limit = self._context.config.connections_max_idle_ms / 1000
        while True:
            await asyncio.sleep(min(limit, 30.0))
            cutoff = time.monotonic() - limit
            for connection in [c for c in self.connections if c.last_active < cutoff]:
                log.info("closing %s: idle for over %.0f s", connection.peer, limit)
                connection.close()

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
