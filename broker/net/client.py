"""The outbound client: how a node talks to other nodes (follower fetches, Raft messages,
broker-to-controller calls such as BrokerHeartbeat and forwarded CreateTopics).

A ``KafkaClient`` is one connection to one node. Requests are kio request entities and answers
are the kio response entities of the same API and version; many requests may be in flight on
the connection at once, matched by correlation id, as a Kafka ``NetworkClient`` pipelines them.
A connection that fails fails every request in flight on it with ``ClientError``; the next
request connects again. ``NodeClients`` keeps one client per node id.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import struct
from collections.abc import Mapping
from functools import cache
from typing import Any

from kio.serial import entity_reader, entity_writer

from broker.protocol.codec import response_class

_SIZE = struct.Struct(">i")
_CORRELATION = struct.Struct(">i")

DEFAULT_CLIENT_ID = "chirpstream-node"


class ClientError(OSError):
    """The request could not be answered: the node is unreachable, closed the connection, or
    did not answer in time."""


class KafkaClient:
    """One connection to ``host:port``, made on first use and again after a failure."""

    def __init__(self, host: str, port: int, *, client_id: str = DEFAULT_CLIENT_ID) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        self._in_flight: dict[int, tuple[asyncio.Future[Any], type]] = {}
        self._correlation = itertools.count(1)
        self._closed = False

    def __repr__(self) -> str:
        return f"KafkaClient({self.host}:{self.port})"

    async def request(self, body: Any, *, timeout_s: float = 30.0) -> Any:
        """Send ``body`` (a kio request entity) and return the node's answer. Raises
        ClientError on a connection failure or when no answer comes within ``timeout_s``."""
        if self._closed:
            raise ClientError(f"client for {self.host}:{self.port} is closed")
        try:
            async with asyncio.timeout(timeout_s):
                writer = await self._connected()
                correlation_id = next(self._correlation) & 0x7FFFFFFF
                answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                self._in_flight[correlation_id] = (
                    answer,
                    response_class(body.__api_key__, body.__version__),
                )
                try:
                    writer.write(self._frame(body, correlation_id))
                    await writer.drain()
                    return await answer
                finally:
                    self._in_flight.pop(correlation_id, None)
        except TimeoutError as err:
            raise ClientError(
                f"no answer from {self.host}:{self.port} within {timeout_s:g} s"
            ) from err
        except ConnectionError as err:
            raise ClientError(f"connection to {self.host}:{self.port} failed: {err}") from err

    async def close(self) -> None:
        """Close the connection and fail what is in flight; the client cannot be used again."""
        self.abandon()
        if self._reading is not None:
            await asyncio.gather(self._reading, return_exceptions=True)

    def abandon(self) -> None:
        """``close`` without waiting for the reader to finish."""
        self._closed = True
        self._disconnect(ClientError("client closed"))
        if self._reading is not None:
            self._reading.cancel()

    # -- the connection -----------------------------------------------------------------

    async def _connected(self) -> asyncio.StreamWriter:
        if self._writer is not None:
            return self._writer
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is None:
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except OSError as err:
                    raise ClientError(f"cannot connect to {self.host}:{self.port}: {err}") from err
                self._writer = writer
                self._reading = asyncio.create_task(self._read(reader, writer))
            return self._writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = _SIZE.unpack(await reader.readexactly(_SIZE.size))
                payload = await reader.readexactly(size)
                (correlation_id,) = _CORRELATION.unpack_from(payload)
                waiting = self._in_flight.get(correlation_id)
                if waiting is None:
                    continue  # its requester gave up (timed out or was cancelled)
                answer, cls = waiting
                try:
                    _, used = entity_reader(cls.__header_schema__)(payload, 0)
                    body, _ = entity_reader(cls)(payload, used)
                except Exception as err:  # any decoding failure fails that request only
                    if not answer.done():
                        answer.set_exception(ClientError(f"undecodable answer: {err!r}"))
                    continue
                if not answer.done():
                    answer.set_result(body)
        except (OSError, asyncio.IncompleteReadError):
            if self._writer is writer:
                self._disconnect(ClientError(f"{self.host}:{self.port} closed the connection"))

    def _disconnect(self, error: ClientError) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        for answer, _ in self._in_flight.values():
            if not answer.done():
                answer.set_exception(error)
        self._in_flight.clear()

    def _frame(self, body: Any, correlation_id: int) -> bytes:
        key_and_version, after_correlation = _request_header(
            body.__header_schema__, body.__api_key__, body.__version__, self.client_id
        )
        out = io.BytesIO()
        out.write(b"\0\0\0\0")
        out.write(key_and_version)
        out.write(_CORRELATION.pack(correlation_id))
        out.write(after_correlation)
        entity_writer(type(body))(out, body)
        frame = out.getbuffer()
        _SIZE.pack_into(frame, 0, len(frame) - _SIZE.size)
        return bytes(frame)


@cache
def _request_header(
    header_cls: type, api_key: int, version: int, client_id: str
) -> tuple[bytes, bytes]:
    """A request header encoded once by kio, split around its correlation id: the API key and
    version before it, the client id (and a flexible header's tagged fields) after it."""
    fields = {"request_api_key": api_key, "request_api_version": version, "correlation_id": 0}
    if "client_id" in header_cls.__dataclass_fields__:
        fields["client_id"] = client_id
    out = io.BytesIO()
    entity_writer(header_cls)(out, header_cls(**fields))
    encoded = out.getvalue()
    return encoded[:4], encoded[8:]


class NodeClients:
    """One ``KafkaClient`` per node id, made on first use from the known endpoints."""

    def __init__(
        self,
        endpoints: Mapping[int, tuple[str, int]] | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
    ) -> None:
        self._endpoints: dict[int, tuple[str, int]] = dict(endpoints or {})
        self._clients: dict[int, KafkaClient] = {}
        self._client_id = client_id

    def endpoint(self, node_id: int) -> tuple[str, int] | None:
        return self._endpoints.get(node_id)

    def get(self, node_id: int) -> KafkaClient:
        """The client for ``node_id``. Raises ClientError when its address is not known."""
        client = self._clients.get(node_id)
        if client is None:
            endpoint = self._endpoints.get(node_id)
            if endpoint is None:
                raise ClientError(f"no known address for node {node_id}")
            client = self._clients[node_id] = KafkaClient(*endpoint, client_id=self._client_id)
        return client

    def update(self, node_id: int, host: str, port: int) -> None:
        """Node ``node_id`` now listens at ``host:port`` (a changed address drops the old
        connection at once; its requests in flight fail)."""
        if self._endpoints.get(node_id) == (host, port):
            return
        self._endpoints[node_id] = (host, port)
        old = self._clients.pop(node_id, None)
        if old is not None:
            old.abandon()

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.close() for client in clients))
