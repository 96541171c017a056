"""A TCP proxy that fails on demand, for network faults without root (no iptables, no netem).

``ChaosProxy(target)`` listens on 127.0.0.1 and forwards every connection to ``target``. Its
mode can change at any time, for both directions or for one (``UPSTREAM``: what the client
sends, ``DOWNSTREAM``: what the server answers):

- ``pass``: bytes flow.
- ``blackhole``: nothing flows, nothing is lost, nothing is refused. New connections are
  accepted; bytes are held, and the proxy stops reading once a few chunks are held, so the
  sender's socket buffers fill as they would behind a dropped link. What was held flows, in
  order, once the direction passes again: a request sent into a partition may still arrive
  after it heals, as over a real network whose TCP retransmits.
- ``reset``: every open connection is reset (RST), and so is every new one while the mode
  lasts. Always both directions.
- ``delay``: each chunk is held ``delay_ms`` after it was read, order kept.

Tests that drive real processes are synchronous; ``ProxyThread`` runs a proxy on its own
event loop in a daemon thread and offers the same controls.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

CHUNK = 64 * 1024
HELD_CHUNKS = 8  # a direction stops reading once this many chunks wait to be written

T = TypeVar("T")


class Mode(enum.Enum):
    PASS = "pass"
    BLACKHOLE = "blackhole"
    RESET = "reset"
    DELAY = "delay"


class Direction(enum.Enum):
    UPSTREAM = "upstream"  # client -> target
    DOWNSTREAM = "downstream"  # target -> client


BOTH = (Direction.UPSTREAM, Direction.DOWNSTREAM)


@dataclass(frozen=True)
class Setting:
    mode: Mode = Mode.PASS
    delay_ms: float = 0.0


class _Link:
    """One accepted connection and its upstream connection, pumped both ways."""

    def __init__(
        self, proxy: ChaosProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        self.proxy = proxy
        self.client = (reader, writer)
        self.server: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        proxy = self.proxy
        try:
            # Behind a blackhole the connection to the target is not even attempted yet.
            await proxy._passable(Direction.UPSTREAM)
            self.server = await asyncio.open_connection(*proxy.target)
        except OSError:
            self.reset()
            return
        pumps = (
            (Direction.UPSTREAM, self.client[0], self.server[1]),
            (Direction.DOWNSTREAM, self.server[0], self.client[1]),
        )
        self.tasks = [asyncio.create_task(self._pump(*pump)) for pump in pumps]
        await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        self.close()

    async def _pump(
        self, direction: Direction, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(HELD_CHUNKS)

        async def read() -> None:
            while data := await source.read(CHUNK):
                due = time.monotonic() + self.proxy.setting(direction).delay_ms / 1000
                await held.put((due, data))
            await held.put((0.0, b""))  # end of stream

        reading = asyncio.create_task(read())
        try:
            while True:
                due, data = await held.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self.proxy._passable(direction)
                if not data:
                    break
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await reading

    def reset(self) -> None:
        """Close both sockets with an RST (SO_LINGER 0) instead of a FIN."""
        for pair in (self.client, self.server):
            if pair is not None:
                _abort(pair[1])
        self.close()

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for pair in (self.client, self.server):
            if pair is not None:
                pair[1].close()


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ChaosProxy:
    """Listens on 127.0.0.1:``port`` (0: any free port) and forwards to ``target``."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.port = port
        self.connections = 0  # accepted so far, for a test's diagnostics
        self._settings = dict.fromkeys(BOTH, Setting())
        self._changed = asyncio.Event()
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    async def start(self) -> ChaosProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def setting(self, direction: Direction) -> Setting:
        return self._settings[direction]

    def set(
        self,
        mode: Mode,
        directions: Direction | tuple[Direction, ...] = BOTH,
        *,
        delay_ms: float = 0.0,
    ) -> None:
        """Switch ``directions`` to ``mode``; ``reset`` also resets every open connection."""
        if mode is Mode.DELAY and delay_ms <= 0:
            raise ValueError("delay needs delay_ms > 0")
        for direction in directions if isinstance(directions, tuple) else (directions,):
            self._settings[direction] = Setting(mode, delay_ms)
        if mode is Mode.RESET:
            self._settings = dict.fromkeys(BOTH, Setting(Mode.RESET))
            for link in list(self._links):
                link.reset()
        self._changed.set()
        self._changed = asyncio.Event()

    async def _passable(self, direction: Direction) -> None:
        """Return once ``direction`` may carry bytes; raise ConnectionResetError on reset."""
        while True:
            mode = self._settings[direction].mode
            if mode is Mode.RESET:
                raise ConnectionResetError("the proxy is resetting connections")
            if mode is not Mode.BLACKHOLE:
                return
            await self._changed.wait()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(self, reader, writer)
        if self._settings[Direction.UPSTREAM].mode is Mode.RESET:
            link.reset()
            return
        task = asyncio.current_task()
        assert task is not None
        self._links.add(link)
        self._tasks.add(task)
        try:
            await link.run()
        finally:
            self._links.discard(link)
            self._tasks.discard(task)


class ProxyThread:
    """A ``ChaosProxy`` on its own event loop in a daemon thread, for synchronous tests.

    ``with ProxyThread(target) as proxy: proxy.blackhole() ...``; every control returns once
    the proxy has applied it.
    """

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.proxy = self._call(ChaosProxy(target, port).start())

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def address(self) -> tuple[str, int]:
        return self.proxy.address

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def set(
        self,
        mode: Mode,
        directions: Direction | tuple[Direction, ...] = BOTH,
        *,
        delay_ms: float = 0.0,
    ) -> None:
        async def apply() -> None:
            self.proxy.set(mode, directions, delay_ms=delay_ms)

        self._call(apply())

    def heal(self) -> None:
        self.set(Mode.PASS)

    def blackhole(self, directions: Direction | tuple[Direction, ...] = BOTH) -> None:
        self.set(Mode.BLACKHOLE, directions)

    def reset(self) -> None:
        self.set(Mode.RESET)

    def delay(self, delay_ms: float, directions: Direction | tuple[Direction, ...] = BOTH) -> None:
        self.set(Mode.DELAY, directions, delay_ms=delay_ms)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self.proxy.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ProxyThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
