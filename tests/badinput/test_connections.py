"""Connections that misbehave (X9-X11): pipelined requests, slowloris clients, resets in the
middle of a request, and a connection cap. Every check is functional: what was answered and
what was closed, never how long it took."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import time

import pytest

from tests.support.batches import make_batch
from tests.support.waiting import eventually
from tests.support.wire import WireClient

API_VERSIONS_BODY = {"client_software_name": "t", "client_software_version": "1"}
METADATA_P, METADATA_R = (
    {"topics": [{"name": name, "topic_id": None}], "include_topic_authorized_operations": False}
    for name in "pr"
)
STATS = re.compile(r"STATS connections=(\d+) tasks=(\d+)")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def stats(broker) -> tuple[int, int]:
    """(connections, asyncio tasks) from the STATS line the broker logs on SIGUSR1."""
    seen = len(STATS.findall(broker.read_log()))
    os.kill(broker.proc.pid, signal.SIGUSR1)
    lines = eventually(lambda: STATS.findall(broker.read_log())[seen:], "a STATS line")
    connections, tasks = lines[-1]
    return int(connections), int(tasks)


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("count", [50, 300])
def test_pipelined_requests_are_answered_in_order(broker, count):
    """``count`` requests of four kinds in one write; 300 also crosses the read-pause mark."""
    with WireClient(broker.port) as client:
        client.metadata("p")
        frames = []
        kinds = []
        for i in range(count):
            kind = i % 4
            if kind == 0:
                frames.append(client.encode(18, 3, API_VERSIONS_BODY))
            elif kind == 1:
                frames.append(client.produce_request("p", make_batch([b"%d" % i]), acks=1))
            elif kind == 2:
                frames.append(client.encode(3, 12, METADATA_P))
            else:
                frames.append(client.fetch_request("p", 0))
            kinds.append(kind)
        first = client._correlation - count + 1
        client.send_raw(b"".join(frames))
        correlations = [struct.unpack_from(">i", client.read_frame())[0] for _ in kinds]
        assert correlations == list(range(first, first + count))
        assert client.latest_offset("p") == sum(1 for kind in kinds if kind == 1)


def test_slowloris_sockets_are_closed_while_a_normal_client_is_served(broker_factory):
    broker = broker_factory(config={"socket.request.read.timeout.ms": "1000"})
    baseline = open_fds(broker.proc.pid)
    slow = [socket.create_connection(("127.0.0.1", broker.port)) for _ in range(100)]
    for sock in slow:
        sock.setblocking(False)
    open_slow = set(slow)
    answered = 0
    with WireClient(broker.port) as client:
        request = client.encode(18, 3, API_VERSIONS_BODY)
        sent = 0
        # Each slow socket trickles its request a byte per round; the normal client asks and
        # gets an answer every round. Stop once the broker has closed every slow socket.
        while open_slow:
            for sock in list(open_slow):
                try:
                    if sent < len(request) - 1:  # never complete a frame
                        sock.send(request[sent : sent + 1])
                    if sock.recv(1) == b"":
                        open_slow.discard(sock)
                except BlockingIOError:
                    pass
                except (ConnectionResetError, BrokenPipeError):
                    open_slow.discard(sock)
            sent += 1
            assert client.request(18, 3, API_VERSIONS_BODY).error_code == 0
            answered += 1
            time.sleep(0.05)
            assert sent < 2000, "the slow sockets were never closed"
    for sock in slow:
        sock.close()
    assert answered > 0
    log = broker.read_log()
    assert log.count("socket.request.read.timeout.ms") == 100
    eventually(lambda: open_fds(broker.proc.pid) <= baseline, "fds back to the baseline")


def test_a_frame_that_arrives_in_pieces_within_the_deadline_is_served(broker_factory):
    broker = broker_factory(config={"socket.request.read.timeout.ms": "30000"})
    with WireClient(broker.port) as client:
        request = client.encode(18, 3, API_VERSIONS_BODY)
        for i in range(len(request)):
            client.send_raw(request[i : i + 1])
            time.sleep(0.005)
        assert client.read_response(18, 3).error_code == 0


def test_idle_sockets_are_closed_after_connections_max_idle_ms(broker_factory):
    broker = broker_factory(config={"connections.max.idle.ms": "1000"})
    idle = [socket.create_connection(("127.0.0.1", broker.port)) for _ in range(20)]
    for sock in idle:
        sock.settimeout(60)
        assert sock.recv(1) == b""  # EOF: the broker closed it
        sock.close()
    assert broker.read_log().count("idle for over") == 20


def test_connect_reset_cycles_leak_no_fds_and_no_tasks(broker):
    with WireClient(broker.port) as warm:
        warm.metadata("r")
        for _ in range(3):  # 2.7 MB to fetch: more than the socket buffers take at once
            assert warm.produce("r", make_batch([b"x" * 900_000])).error_code == 0
    eventually(lambda: stats(broker)[0] == 0, "the warm-up connection is gone")
    fds_before = open_fds(broker.proc.pid)
    _, tasks_before = stats(broker)
    encoder = WireClient(broker.port)
    metadata = encoder.encode(3, 12, METADATA_R)
    long_poll = encoder.fetch_request("r", 3, max_wait_ms=60_000)  # parks until data or timeout
    fetch_all = encoder.fetch_request("r", 0, max_bytes=8 << 20)
    encoder.close()
    for i in range(1000):
        sock = socket.create_connection(("127.0.0.1", broker.port))
        kind = i % 5
        if kind == 1:
            sock.sendall(metadata[: len(metadata) // 2])  # mid-request
        elif kind == 2:
            sock.sendall(metadata)  # a whole request, its answer never read
        elif kind == 3:
            sock.sendall(long_poll)  # a parked long-poll fetch
        elif kind == 4:
            sock.sendall(fetch_all + metadata)  # mid-response, more queued behind it
        if i % 2:
            reset(sock)
        else:
            sock.close()
    eventually(lambda: stats(broker)[0] == 0, "every connection is gone")
    eventually(lambda: stats(broker)[1] <= tasks_before, "tasks back to the baseline")
    eventually(lambda: open_fds(broker.proc.pid) <= fds_before, "fds back to the baseline")
    with WireClient(broker.port) as client:
        assert client.latest_offset("r") == 3
    assert "Traceback" not in broker.read_log()


def test_max_connections_refuses_the_extra_one_and_recovers(broker_factory):
    broker = broker_factory(config={"max.connections": "3"})
    clients = [WireClient(broker.port) for _ in range(3)]
    for client in clients:
        assert client.request(18, 3, API_VERSIONS_BODY).error_code == 0
    with WireClient(broker.port) as extra:
        assert extra.is_closed_by_peer()
    assert "max.connections=3 reached" in broker.read_log()
    clients.pop().close()
    eventually(lambda: stats(broker)[0] == 2, "the closed connection is gone")
    with WireClient(broker.port) as again:
        assert again.request(18, 3, API_VERSIONS_BODY).error_code == 0
    for client in clients:
        client.close()
