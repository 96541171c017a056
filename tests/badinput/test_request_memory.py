"""Clients that send large requests faster than they are answered (issue 12, item 13): the
broker holds back their sockets instead of buffering, so its peak RSS (``VmHWM``) stays within
a few requests of where it started, and every request is still answered, in order."""

from __future__ import annotations

import socket
import struct
import threading
import time

from kio.serial import entity_reader

from broker.protocol.codec import response_class
from tests.support.batches import make_batch
from tests.support.wire import WireClient

MiB = 1 << 20
UNKNOWN_TOPIC_OR_PARTITION = 3


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (Linux ``VmHWM``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/PID/status")


def big_produce(port: int, size: int) -> bytes:
    """A framed Produce request carrying ``size`` bytes, to a topic that does not exist: the
    broker answers it at once (UNKNOWN_TOPIC_OR_PARTITION) and stores nothing."""
    encoder = WireClient(port)
    try:
        return encoder.produce_request("no-such-topic", b"x" * size, acks=1)
    finally:
        encoder.close()


class Sender(threading.Thread):
    """Writes ``data`` to ``sock`` in pieces, counting what the kernel took so far."""

    def __init__(self, sock: socket.socket, data: bytes) -> None:
        super().__init__(daemon=True)
        self.sock, self.data, self.sent = sock, memoryview(data), 0

    def run(self) -> None:
        while self.sent < len(self.data):
            self.sent += self.sock.send(self.data[self.sent : self.sent + MiB])


def wait_until_held_back(senders: list[Sender], quiet_s: float = 2.0) -> None:
    """Until every sender finished or none made progress for ``quiet_s`` (the broker stopped
    reading). Stopping early can only make a broker that buffers look better, never fail one
    that holds back."""
    last, quiet_since = None, time.monotonic()
    while any(s.is_alive() for s in senders):
        progress = [s.sent for s in senders]
        if progress != last:
            last, quiet_since = progress, time.monotonic()
        elif time.monotonic() - quiet_since > quiet_s:
            return
        time.sleep(0.05)


def read_frames(sock: socket.socket, count: int) -> list[bytes]:
    buffered, frames = b"", []
    while len(frames) < count:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError(f"closed after {len(frames)} of {count} answers")
        buffered += chunk
        while len(buffered) >= 4 and len(buffered) >= 4 + struct.unpack_from(">i", buffered)[0]:
            size = struct.unpack_from(">i", buffered)[0]
            frames.append(buffered[4 : 4 + size])
            buffered = buffered[4 + size :]
    return frames


def produce_error(frame: bytes) -> int:
    """The error code of the only partition in a Produce v9 answer."""
    cls = response_class(0, 9)
    _, used = entity_reader(cls.__header_schema__)(frame, 0)
    body, _ = entity_reader(cls)(frame, used)
    return body.responses[0].partition_responses[0].error_code


def test_one_connection_pipelining_large_requests_does_not_pin_memory(broker_factory):
    """A client pipelines 10 requests of 20 MiB behind a long-poll Fetch. With up to 64
    requests buffered per connection the broker read all 200 MiB into memory while the fetch
    waited; it must read none of them until the fetch is answered."""
    broker = broker_factory(config={"offsets.topic.num.partitions": "1"})
    frame_size, count = 20 * MiB, 10
    with WireClient(broker.port) as setup:
        setup.metadata("t")
        long_poll = setup.fetch_request("t", 0, max_wait_ms=60_000)
    produce = big_produce(broker.port, frame_size)
    before = peak_rss_mib(broker.proc.pid)
    with socket.create_connection(("127.0.0.1", broker.port)) as client:
        sender = Sender(client, long_poll + produce * count)
        sender.start()
        wait_until_held_back([sender])
        grown = peak_rss_mib(broker.proc.pid) - before
        held_back = sender.is_alive()
        with WireClient(broker.port) as other:  # data for the fetch: it answers at once
            assert other.produce("t", make_batch([b"wake"])).error_code == 0
        client.settimeout(60)
        answers = read_frames(client, 1 + count)
        sender.join(60)
    assert held_back, f"the broker read every request while none was answered (+{grown:.0f} MiB)"
    assert grown < 3 * frame_size / MiB, f"peak RSS grew {grown:.0f} MiB"
    assert struct.unpack_from(">i", answers[0])[0] == struct.unpack_from(">i", long_poll, 8)[0]
    assert [produce_error(a) for a in answers[1:]] == [UNKNOWN_TOPIC_OR_PARTITION] * count


def test_a_hundred_connections_stay_within_queued_max_request_bytes(broker_factory):
    """100 clients each send two 4 MiB requests at once (800 MiB in all). Reading every
    connection at once held hundreds of MiB; with queued.max.request.bytes=32 MiB the broker
    reads a few at a time, and still answers every one."""
    broker = broker_factory(
        config={
            "offsets.topic.num.partitions": "1",
            "socket.request.max.bytes": str(8 * MiB),
            "queued.max.request.bytes": str(32 * MiB),
        }
    )
    request = big_produce(broker.port, 4 * MiB)
    before = peak_rss_mib(broker.proc.pid)
    clients = [socket.create_connection(("127.0.0.1", broker.port)) for _ in range(100)]
    senders = [Sender(client, request * 2) for client in clients]
    for sender in senders:
        sender.start()
    try:
        for client in clients:
            client.settimeout(120)
            answers = read_frames(client, 2)
            assert [produce_error(a) for a in answers] == [UNKNOWN_TOPIC_OR_PARTITION] * 2
    finally:
        for client in clients:
            client.close()
    grown = peak_rss_mib(broker.proc.pid) - before
    assert grown < 150, f"peak RSS grew {grown:.0f} MiB"


def test_connections_that_close_mid_request_give_their_share_back(broker_factory):
    """A holds the whole budget with a half-sent request and B waits behind it; both clients
    vanish. A request of the whole budget is then still read and answered: what A held and
    what B was granted on its way out were both given back."""
    budget = 8 * MiB
    broker = broker_factory(
        config={
            "offsets.topic.num.partitions": "1",
            "socket.request.max.bytes": str(budget),
            "queued.max.request.bytes": str(budget),
        }
    )
    whole = big_produce(broker.port, budget - 1024)
    holder = socket.create_connection(("127.0.0.1", broker.port))
    holder.sendall(whole[: len(whole) // 2])
    waiter = socket.create_connection(("127.0.0.1", broker.port))
    waiter.sendall(big_produce(broker.port, MiB)[:100])
    time.sleep(0.5)  # for the broker to read both (were it slower, this would test less)
    waiter.close()
    holder.close()
    with socket.create_connection(("127.0.0.1", broker.port), timeout=60) as client:
        client.sendall(whole)
        assert produce_error(read_frames(client, 1)[0]) == UNKNOWN_TOPIC_OR_PARTITION
