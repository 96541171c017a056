"""One client connection: frames in, responses out, strictly in request order.

Requests are handled one at a time per connection, as Kafka does, so a long-poll Fetch holds
up only its own connection. One exception: while an acks=all Produce waits for its ISR (its
handler returned ``Deferred``), the next request is handled too if it is a Produce, up to
``MAX_DEFERRED`` waiting, so that a producer with several requests in flight (librdkafka
sends many) has its next batch appended, and on its way to the followers, while the one
before is still being replicated. Its batches still follow the earlier ones in the log and the
answers still go out in request order; any other request waits until every answer before it
is written. What a connection may hold in memory is bounded: it reads ahead
of the request in hand only while it holds fewer than ``MAX_QUEUED_REQUESTS`` requests and
under ``READ_AHEAD_BYTES`` (a request of any allowed size is read when it holds nothing else),
and every frame's size is reserved from the broker-wide ``queued.max.request.bytes`` before
the rest of it is read (``broker.net.memory``). Otherwise reading pauses and TCP holds the
client back. Handling pauses while the socket's write buffer is full. Anything malformed
closes this connection and nothing else, and so does a frame that is still incomplete
``socket.request.read.timeout.ms`` after its first byte arrived (a slowloris client: trickled
bytes keep a connection from ever being idle).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING

from broker.net.handlers.api_versions import API_VERSIONS, unsupported_version_response
from broker.net.registry import Deferred
from broker.protocol.codec import UnsupportedVersion, encode_response, peek_header, read_request
from broker.protocol.errors import ProtocolError
from broker.protocol.framing import BadFrameSize, FrameDecoder

if TYPE_CHECKING:
    from broker.net.context import ListenerContext
    from broker.net.memory import RequestMemory
    from broker.net.registry import Registry, Response

log = logging.getLogger("broker.net")

MAX_QUEUED_REQUESTS = 64
READ_AHEAD_BYTES = 1 << 20  # pipelined requests read ahead of the one in hand
SENDFILE_THRESHOLD = 64 * 1024  # smaller regions are read and written in one buffer
_Header = tuple[int, int, int]  # a request's api key, version and correlation id
MAX_DEFERRED = 64  # acks=all Produce requests waiting for their ISR on one connection
PRODUCE = 0


class Connection(asyncio.Protocol):
    def __init__(
        self,
        context: ListenerContext,
        registry: Registry,
        memory: RequestMemory,
        on_close,
        *,
        refuse: bool = False,
    ) -> None:
        self._context = context
        self._registry = registry
        self._memory = memory
        self._refuse = refuse
        self._on_close = on_close
        self._decoder = FrameDecoder(context.config.socket_request_max_bytes)
        self._read_timeout_s = context.config.socket_request_read_timeout_ms / 1000
        self._frame_timer: asyncio.TimerHandle | None = None
        # Request payloads in order; an error last means "close once those are served".
        self._queue: asyncio.Queue[bytes | ProtocolError] = asyncio.Queue()
        self._writable = asyncio.Event()
        self._writable.set()
        self._reading_paused = False
        # Bytes of the requests this connection holds (queued, in hand, or reserved for the
        # frame being read), all counted in the broker-wide memory too.
        self._held = 0
        self._reserved = 0  # the part of _held reserved for the frame being read
        self._awaiting_memory = False
        self._read_done = False  # a bad frame size: serve what came before it, then close
        self._closed = False
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self._client_host = ""
        self.last_active = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        # Answers still to write, in request order, with the (api key, version, correlation
        # id) of their requests (not the requests: their records are in the log by then).
        self._answers: deque[tuple[_Header, Awaitable[Response]]] = deque()
        self._answering: asyncio.Task[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._client_host = f"/{peer[0]}" if peer else ""
        if self._refuse:
            self.close()
            return
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        try:
            frames = self._decoder.feed(data)
        except BadFrameSize as exc:
            # Serve the whole requests that came before the bad size, then close (as Kafka,
            # which reads one request at a time, would); read nothing more meanwhile.
            self._read_done = True
            self.transport.pause_reading()
            self._stop_frame_timer()
            self._enqueue(exc.frames)
            self._queue.put_nowait(exc)
            return
        self._enqueue(frames)
        if not self._decoder.buffered:
            self._stop_frame_timer()
        elif frames or self._frame_timer is None:
            self._start_frame_timer()  # a new frame has begun
        self._update_reading()

    def _enqueue(self, frames: list[bytes]) -> None:
        for payload in frames:
            if self._reserved:  # the frame whose size was reserved when it began
                self._reserved = 0
            else:  # it arrived whole within one read: count it now
                self._held += len(payload)
                self._memory.take(len(payload))
            self._queue.put_nowait(payload)

    def _update_reading(self) -> None:
        """Reserve the frame being read if the bounds allow it; read only while they do."""
        if self._closed or self._read_done:
            return
        size = self._decoder.next_frame_size
        waiting = size is not None and not self._reserved  # begun, its size not yet held
        within_read_ahead = not self._held or self._held + (size or 0) <= READ_AHEAD_BYTES
        if waiting and not self._awaiting_memory and within_read_ahead:
            if self._memory.reserve(size, self._memory_granted):
                self._hold_frame(size)
                waiting = False
            else:
                self._awaiting_memory = True
        if waiting:
            may_read = False
        elif self._reserved:
            may_read = True  # finish the frame whose size we hold
        else:
            may_read = self._held < READ_AHEAD_BYTES and self._queue.qsize() < MAX_QUEUED_REQUESTS
        if may_read and self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
            if self._decoder.buffered:
                self._start_frame_timer()
        elif not may_read and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
            self._stop_frame_timer()  # the frame cannot progress while we do not read

    def _hold_frame(self, size: int) -> None:
        self._reserved = size
        self._held += size

    def _memory_granted(self, size: int) -> None:
        """The broker-wide memory reserved the waiting frame's size for us."""
        self._awaiting_memory = False
        self._hold_frame(size)
        self._update_reading()

    def _release(self, size: int) -> None:
        self._held -= size
        self._memory.release(size)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._stop_frame_timer()
        if self._awaiting_memory:
            self._memory.cancel(self._memory_granted)
        self._release(self._held)
        if self._task is not None:
            self._task.cancel()
        if self._answering is not None:
            self._answering.cancel()
        for _, answer in self._answers:
            if isinstance(answer, asyncio.Future):
                answer.cancel()
        self._answers.clear()
        self._on_close(self)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- the per-frame read deadline ---------------------------------------------------------

    def _start_frame_timer(self) -> None:
        self._stop_frame_timer()
        loop = asyncio.get_running_loop()
        self._frame_timer = loop.call_later(self._read_timeout_s, self._frame_timed_out)

    def _stop_frame_timer(self) -> None:
        if self._frame_timer is not None:
            self._frame_timer.cancel()
            self._frame_timer = None

    def _frame_timed_out(self) -> None:
        self._frame_timer = None
        log.warning(
            "closing %s: a request frame was still incomplete after %.0f ms "
            "(socket.request.read.timeout.ms)",
            self.peer,
            self._read_timeout_s * 1000,
        )
        self.close()

    # -- serving ----------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed and self.transport is not None:
            self._closed = True
            self.transport.abort()

    async def _serve(self) -> None:
        try:
            while True:
                payload = await self._queue.get()
                if isinstance(payload, ProtocolError):
                    raise payload
                size = len(payload)
                if self._answers and (
                    peek_header(payload)[0] != PRODUCE or len(self._answers) >= MAX_DEFERRED
                ):
                    await self._answers_written()
                await self._writable.wait()
                await self._handle(payload)
                del payload  # not kept alive while the next request is awaited
                if not self._closed:  # once closed, connection_lost released everything
                    self._release(size)
                    self._update_reading()
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            self._failed(exc)
        finally:
            self.close()

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, ProtocolError):
            log.warning("closing %s: %s", self.peer, exc)
        elif not isinstance(exc, ConnectionError):
            log.exception("closing %s after an unexpected error", self.peer, exc_info=exc)

    async def _handle(self, payload: bytes) -> None:
        context = self._context
        try:
            request = read_request(payload, self._client_host)
        except UnsupportedVersion as exc:
            if exc.api_key != API_VERSIONS:
                raise
            # Never close on ApiVersions: answer in v0 form with UNSUPPORTED_VERSION (G1).
            self.transport.write(unsupported_version_response(exc.correlation_id, context))
            return
        spec = self._registry.get(request.api_key)
        if spec is None or not spec.serves(request.version):
            raise ProtocolError(
                f"api_key={request.api_key} v{request.version} is not served by this broker"
            )
        response = await spec.handler(context, request)
        header = (request.api_key, request.version, request.correlation_id)
        if isinstance(response, Deferred):
            self._defer(header, asyncio.ensure_future(response.answer))
        elif self._answers:  # earlier answers still to come go out first
            done = asyncio.get_running_loop().create_future()
            done.set_result(response)
            self._defer(header, done)
        else:
            await self._write(header, response)

    def _defer(self, header: _Header, answer: Awaitable[Response]) -> None:
        self._answers.append((header, answer))
        if self._answering is None or self._answering.done():
            self._answering = asyncio.get_running_loop().create_task(self._write_answers())

    async def _write_answers(self) -> None:
        """Write the deferred answers in request order as each comes."""
        try:
            while self._answers:
                header, answer = self._answers[0]
                response = await answer
                await self._writable.wait()
                await self._write(header, response)
                self._answers.popleft()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
            self.close()

    async def _answers_written(self) -> None:
        """Wait until every deferred answer is written (or the connection closed)."""
        while self._answers and not self._closed and self._answering is not None:
            await asyncio.shield(self._answering)

    async def _write(self, header: _Header, response: Response) -> None:
        if response is None or self._closed:
            return
        if isinstance(response, bytes):
            self.transport.write(response)
        elif isinstance(response, Mapping):
            self.transport.write(encode_response(*header, response))
        else:
            await self._write_parts(response)

    async def _write_parts(self, parts: Sequence[object]) -> None:
        """Write bytes as they are and file regions with sendfile (small ones by pread)."""
        transport = self.transport
        for part in parts:
            if transport.is_closing():  # the peer reset mid-response; sendfile would raise
                return
            if isinstance(part, bytes):
                transport.write(part)
            elif part.length < SENDFILE_THRESHOLD:
                transport.write(part.read_bytes())
            else:
                loop = asyncio.get_running_loop()
                await loop.sendfile(transport, part.file, part.position, part.length)
