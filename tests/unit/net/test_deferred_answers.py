"""A connection goes on to the next Produce while an acks=all Produce waits for its ISR, and
still answers in request order; any other request waits until the answers before it are out.

The real Produce handler on a leader whose ISR has a follower (manual clock), behind a real
``Connection`` whose transport records what is written."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from broker.clock import ManualClock
from broker.net.connection import Connection
from broker.net.handlers import produce
from broker.net.memory import RequestMemory
from broker.net.registry import ApiSpec, Registry
from broker.protocol.codec import Request
from tests.unit.replica.test_produce_acks import FOLLOWER, leader_of_two_partitions, produce_request


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self._closing = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self._closing

    def abort(self) -> None:
        self._closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


def correlation_ids(written: list[bytes]) -> list[int]:
    return [struct.unpack_from(">i", frame, 4)[0] for frame in written]


def framed(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def test_the_next_produce_is_appended_while_the_one_before_waits(tmp_path) -> None:
    clock = ManualClock(1_700_000_000_000)
    context, replicas = leader_of_two_partitions(tmp_path, clock)
    registry = Registry(produce.SPECS)

    async def scenario() -> list[bytes]:
        transport = RecordingTransport()
        connection = Connection(context, registry, RequestMemory(0), lambda _: None)
        connection.connection_made(transport)
        first, second = replicas.replica("t", 0), replicas.replica("t", 1)
        assert first is not None and second is not None
        connection.data_received(framed(produce_request(-1, correlation_id=1)))
        connection.data_received(framed(produce_request(-1, correlation_id=2)))
        await settle()
        # Both appended (each request writes one batch to each partition), none answered.
        assert (first.log_end_offset, second.log_end_offset) == (2, 2)
        assert transport.written == []
        for replica in (first, second):
            replica.update_follower(FOLLOWER, 1)
        await settle()
        assert correlation_ids(transport.written) == [1]
        for replica in (first, second):
            replica.update_follower(FOLLOWER, 2)
        await settle()
        assert correlation_ids(transport.written) == [1, 2]
        connection.close()
        return transport.written

    asyncio.run(scenario())
    replicas.close()


def test_another_request_waits_for_the_answers_before_it(tmp_path) -> None:
    clock = ManualClock(1_700_000_000_000)
    context, replicas = leader_of_two_partitions(tmp_path, clock)
    handled: list[int] = []

    async def describe(_: Any, request: Request) -> bytes:
        handled.append(request.correlation_id)
        return struct.pack(">ii", 4, request.correlation_id)

    registry = Registry([*produce.SPECS, ApiSpec(18, "ApiVersions", 0, 3, describe)])

    async def scenario() -> list[bytes]:
        transport = RecordingTransport()
        connection = Connection(context, registry, RequestMemory(0), lambda _: None)
        connection.connection_made(transport)
        connection.data_received(framed(produce_request(-1, correlation_id=1)))
        connection.data_received(framed(api_versions_request(correlation_id=2)))
        await settle()
        assert handled == []  # held back behind the Produce still waiting for its ISR
        for index in (0, 1):
            replica = replicas.replica("t", index)
            assert replica is not None
            replica.update_follower(FOLLOWER, 1)
        await settle()
        assert handled == [2]
        assert correlation_ids(transport.written) == [1, 2]
        connection.close()
        return transport.written

    asyncio.run(scenario())
    replicas.close()


def api_versions_request(correlation_id: int) -> bytes:
    """ApiVersions v3: header v2 (api key, version, correlation id, client id, no tags) and a
    body of two compact strings and no tags."""
    header = struct.pack(">hhih", 18, 3, correlation_id, 4) + b"test" + b"\x00"
    return header + b"\x05kcat" + b"\x041.0" + b"\x00"


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)
