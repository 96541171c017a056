"""The listener's accepted sockets: Nagle's algorithm is off on every one (a Fetch answer is
written in several parts; with Nagle on, its tail waits for the peer's delayed ACK)."""

from __future__ import annotations

import asyncio
import socket

from broker.clock import SystemClock
from broker.config import BrokerConfig
from broker.net.controller_handlers import CONTROLLER_REGISTRY, ControllerContext
from broker.net.server import Server, bind


def test_accepted_connections_send_without_nagle() -> None:
    asyncio.run(_accept_one())


async def _accept_one() -> None:
    listening = await bind("127.0.0.1", 0)
    context = ControllerContext(BrokerConfig(), SystemClock(), None, None, 0)
    server = Server(context, CONTROLLER_REGISTRY, listening)
    server.start()
    _, writer = await asyncio.open_connection("127.0.0.1", listening.getsockname()[1])
    try:
        for _ in range(200):
            if server.connections:
                break
            await asyncio.sleep(0.01)
        (connection,) = server.connections
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        writer.close()
        await server.stop()
