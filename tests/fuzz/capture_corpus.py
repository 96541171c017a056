"""Regenerate ``corpus/``: real request frames from confluent-kafka and kafka-python.

    python -m tests.fuzz.capture_corpus

Starts a broker on 127.0.0.1:P that advertises a recording proxy on 127.0.0.2:P (the same
port, so every connection a client makes goes through the proxy), runs each client's admin,
produce (gzip) and group-consume flows, and keeps the first frame of every (client, API,
version). Each seed file is two cut bytes (see ``fuzz_requests``) and then the frame.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import tempfile
import threading
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from tests.support.broker_process import BrokerProcess

CORPUS = Path(__file__).parent / "corpus"
MAX_SEED = 16 * 1024


class RecordingProxy:
    """Forwards 127.0.0.2:<port> to the broker on 127.0.0.1 and records what clients send."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.2", 0))
        self.port = self.listener.getsockname()[1]
        self.upstream_port = 0
        self.streams: list[bytearray] = []

    def start(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            broker = socket.create_connection(("127.0.0.1", self.upstream_port))
            stream = bytearray()
            self.streams.append(stream)
            threading.Thread(target=_pump, args=(client, broker, stream), daemon=True).start()
            threading.Thread(target=_pump, args=(broker, client, None), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket, record: bytearray | None) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            if record is not None:
                record += data
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def confluent_flows(bootstrap: str) -> None:
    AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "compression.type": "gzip", "enable.idempotence": True}
    )
    for i in range(5):
        producer.produce("seed", b"value %d" % i, key=b"k%d" % i)
    producer.flush(10)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "seed-ck", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["seed"])
    for _ in range(20):
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            consumer.commit(message, asynchronous=False)
            break
    consumer.close()


def kafka_python_flows(bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.list_topics()
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip")
    for i in range(5):
        producer.send("seed", b"value %d" % i, key=b"k%d" % i)
    producer.flush(10)
    producer.close()
    consumer = KafkaConsumer(
        "seed",
        bootstrap_servers=bootstrap,
        group_id="seed-kp",
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    for _ in consumer:
        consumer.commit()
        break
    consumer.close()


def frames(stream: bytes) -> list[bytes]:
    out = []
    position = 0
    while position + 4 <= len(stream):
        (size,) = struct.unpack_from(">i", stream, position)
        out.append(stream[position : position + 4 + size])
        position += 4 + size
    return out


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for client, flows in (("ck", confluent_flows), ("kp", kafka_python_flows)):
        proxy = RecordingProxy()
        with tempfile.TemporaryDirectory() as tmp:
            broker = BrokerProcess(
                Path(tmp) / "data",
                Path(tmp) / "broker.log",
                config={"advertised.listeners": f"PLAINTEXT://127.0.0.2:{proxy.port}"},
                port=proxy.port,
            ).start()
            proxy.start(broker.port)
            try:
                flows(f"127.0.0.2:{proxy.port}")
            finally:
                broker.stop()
        seen: set[tuple[int, int]] = set()
        for stream in proxy.streams:
            for frame in frames(bytes(stream)):
                api_key, version = struct.unpack_from(">hh", frame, 4)
                if (api_key, version) in seen or len(frame) > MAX_SEED:
                    continue
                seen.add((api_key, version))
                path = CORPUS / f"{client}-api{api_key}-v{version}"
                path.write_bytes(b"\x00\x00" + frame)
        print(f"{client}: {len(seen)} seeds")


if __name__ == "__main__":
    main()
