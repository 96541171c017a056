"""tests/support/proxy.py against an echo server: each mode, each direction, and healing."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.support.proxy import ChaosProxy, Direction, Mode, ProxyThread

QUIET_S = 0.3  # how long "nothing arrives" is watched for


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def run(scenario: Callable[[ChaosProxy], Awaitable[None]]) -> None:
    """Run ``scenario`` with a proxy in front of a fresh echo server."""

    async def main() -> None:
        echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
        proxy = await ChaosProxy(echo.sockets[0].getsockname()[:2]).start()
        try:
            await asyncio.wait_for(scenario(proxy), 10)
        finally:
            await proxy.stop()
            echo.close()

    asyncio.run(main())


async def _connect(proxy: ChaosProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*proxy.address)


async def _nothing_within(reader: asyncio.StreamReader, seconds: float = QUIET_S) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), seconds)


def test_pass_forwards_both_ways():
    async def scenario(proxy: ChaosProxy) -> None:
        reader, writer = await _connect(proxy)
        writer.write(b"hello")
        assert await reader.readexactly(5) == b"hello"
        big = bytes(range(256)) * 4096  # 1 MiB: several chunks, in order
        writer.write(big)
        assert await reader.readexactly(len(big)) == big
        writer.close()

    run(scenario)


def test_blackhole_holds_bytes_until_healed_then_delivers_them_in_order():
    async def scenario(proxy: ChaosProxy) -> None:
        reader, writer = await _connect(proxy)
        writer.write(b"before")
        assert await reader.readexactly(6) == b"before"
        proxy.set(Mode.BLACKHOLE)
        writer.write(b"one ")
        writer.write(b"two")
        await _nothing_within(reader)
        proxy.set(Mode.PASS)
        assert await reader.readexactly(7) == b"one two"

    run(scenario)


def test_a_new_connection_into_a_blackhole_is_accepted_and_served_after_healing():
    async def scenario(proxy: ChaosProxy) -> None:
        proxy.set(Mode.BLACKHOLE)
        reader, writer = await _connect(proxy)
        writer.write(b"ping")
        await _nothing_within(reader)
        proxy.set(Mode.PASS)
        assert await reader.readexactly(4) == b"ping"

    run(scenario)


def test_one_way_blackhole_lets_the_other_direction_through():
    """Blackholing only the answers: the request reaches the server (its echo is produced)
    but the client hears nothing until the downstream heals."""

    async def scenario(proxy: ChaosProxy) -> None:
        reader, writer = await _connect(proxy)
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        proxy.set(Mode.BLACKHOLE, Direction.DOWNSTREAM)
        assert proxy.setting(Direction.UPSTREAM).mode is Mode.PASS
        writer.write(b"y")
        await _nothing_within(reader)
        proxy.set(Mode.PASS, Direction.DOWNSTREAM)
        assert await reader.readexactly(1) == b"y"

    run(scenario)


def test_blackhole_stops_reading_so_the_sender_feels_backpressure():
    async def scenario(proxy: ChaosProxy) -> None:
        reader, writer = await _connect(proxy)
        writer.write(b"x")
        await reader.readexactly(1)
        proxy.set(Mode.BLACKHOLE, Direction.UPSTREAM)
        writer.write(b"z" * (64 << 20))  # far more than the proxy holds plus socket buffers
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(writer.drain(), QUIET_S)
        writer.transport.abort()

    run(scenario)


def test_reset_resets_open_connections_and_new_ones_until_healed():
    async def scenario(proxy: ChaosProxy) -> None:
        reader, writer = await _connect(proxy)
        writer.write(b"a")
        await reader.readexactly(1)
        proxy.set(Mode.RESET)
        with pytest.raises(ConnectionResetError):
            await reader.read(1)
        fresh_reader, _ = await _connect(proxy)
        with pytest.raises(ConnectionResetError):
            await fresh_reader.read(1)
        proxy.set(Mode.PASS)
        healed_reader, healed_writer = await _connect(proxy)
        healed_writer.write(b"b")
        assert await healed_reader.readexactly(1) == b"b"

    run(scenario)


def test_delay_holds_each_chunk_for_the_delay():
    async def scenario(proxy: ChaosProxy) -> None:
        reader, writer = await _connect(proxy)
        proxy.set(Mode.DELAY, Direction.UPSTREAM, delay_ms=200)
        started = time.monotonic()
        writer.write(b"late")
        assert await reader.readexactly(4) == b"late"
        assert time.monotonic() - started >= 0.2
        with pytest.raises(ValueError, match="delay_ms"):
            proxy.set(Mode.DELAY)

    run(scenario)


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


def test_proxy_thread_serves_synchronous_tests():
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _EchoHandler) as echo:
        echo.daemon_threads = True
        threading.Thread(target=echo.serve_forever, daemon=True).start()
        with (
            ProxyThread(echo.server_address) as proxy,
            socket.create_connection(proxy.address, timeout=5) as client,
        ):
            client.sendall(b"hi")
            assert client.recv(2) == b"hi"
            proxy.blackhole()
            client.sendall(b"held")
            client.settimeout(QUIET_S)
            with pytest.raises(TimeoutError):
                client.recv(4)
            proxy.heal()
            client.settimeout(5)
            assert client.recv(4) == b"held"
        echo.shutdown()


def test_a_target_that_refuses_resets_the_client():
    with socket.socket() as unused:  # bound, never listening: connecting to it is refused
        unused.bind(("127.0.0.1", 0))
        # The reset can come before the connection is set up or after: either is the reset.
        with (
            ProxyThread(unused.getsockname()) as proxy,
            pytest.raises(ConnectionResetError),
            socket.create_connection(proxy.address, timeout=5) as client,
        ):
            client.recv(1)
