"""A raw Kafka wire client for tests: kio-encoded requests over a plain socket."""

from __future__ import annotations

import io
import socket
import struct
from typing import Any

from kio.serial import entity_reader, entity_writer

from broker.protocol.codec import build, request_class, response_class


def request_payload(
    api_key: int, version: int, body: dict[str, Any], correlation_id: int = 1
) -> bytes:
    """A request's header and body in kio's encoding, without the frame's size."""
    cls = request_class(api_key, version)
    header_cls = cls.__header_schema__
    out = io.BytesIO()
    header = {
        "request_api_key": api_key,
        "request_api_version": version,
        "correlation_id": correlation_id,
        "client_id": "wire-test",
    }
    entity_writer(header_cls)(out, build(header_cls, header))
    entity_writer(cls)(out, build(cls, body))
    return out.getvalue()


def response_header_and_body(api_key: int, version: int, payload: bytes) -> tuple[Any, Any]:
    """A response's header and body, decoded from its payload (the frame after its size)."""
    cls = response_class(api_key, version)
    header, used = entity_reader(cls.__header_schema__)(payload, 0)
    body, _ = entity_reader(cls)(payload, used)
    return header, body


class WireClient:
    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._correlation = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def encode(self, api_key: int, version: int, body: dict[str, Any]) -> bytes:
        self._correlation += 1
        payload = request_payload(api_key, version, body, self._correlation)
        return struct.pack(">i", len(payload)) + payload

    def request(self, api_key: int, version: int, body: dict[str, Any]) -> Any:
        self.send_raw(self.encode(api_key, version, body))
        return self.read_response(api_key, version)

    def read_response(self, api_key: int, version: int) -> Any:
        header, body = response_header_and_body(api_key, version, self.read_frame())
        assert header.correlation_id == self._correlation
        return body

    def read_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._read_exactly(4))
        return self._read_exactly(size)

    def _read_exactly(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed by the broker")
            data += chunk
        return bytes(data)

    def is_closed_by_peer(self) -> bool:
        """True when the broker has closed this connection (reads EOF or a reset)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    # -- the requests most tests need ---------------------------------------------------------

    def metadata(self, topic: str) -> Any:
        """Metadata v12 for one topic (creating it, when the broker auto-creates topics)."""
        return self.request(
            3,
            12,
            {
                "topics": [{"name": topic, "topic_id": None}],
                "include_topic_authorized_operations": False,
            },
        )

    def produce_request(
        self, topic: str, records: bytes, acks: int = -1, partition: int = 0
    ) -> bytes:
        """A framed Produce v9 request, for tests that send it themselves."""
        return self.encode(
            0,
            9,
            {
                "transactional_id": None,
                "acks": acks,
                "timeout": 5000,
                "topic_data": [
                    {"name": topic, "partition_data": [{"index": partition, "records": records}]}
                ],
            },
        )

    def produce(self, topic: str, records: bytes, acks: int = -1, partition: int = 0) -> Any:
        """Produce v9 to one partition; returns that partition's answer."""
        self.send_raw(self.produce_request(topic, records, acks, partition))
        return self.read_response(0, 9).responses[0].partition_responses[0]

    def latest_offset(self, topic: str, partition: int = 0) -> int:
        """The high watermark, by ListOffsets v7 (timestamp -1)."""
        answer = self.request(
            2,
            7,
            {
                "replica_id": -1,
                "isolation_level": 0,
                "topics": [
                    {
                        "name": topic,
                        "partitions": [
                            {
                                "partition_index": partition,
                                "current_leader_epoch": -1,
                                "timestamp": -1,
                            }
                        ],
                    }
                ],
            },
        )
        return answer.topics[0].partitions[0].offset

    def fetch_request(
        self,
        topic: str,
        offset: int,
        max_wait_ms: int = 0,
        partition: int = 0,
        max_bytes: int = 1 << 20,
    ) -> bytes:
        """A framed Fetch v12 request for one partition, for tests that send it themselves."""
        return self.encode(
            1,
            12,
            {
                "max_wait": max_wait_ms,
                "min_bytes": 1,
                "max_bytes": max_bytes,
                "topics": [
                    {
                        "topic": topic,
                        "partitions": [
                            {
                                "partition": partition,
                                "fetch_offset": offset,
                                "partition_max_bytes": max_bytes,
                            }
                        ],
                    }
                ],
                "forgotten_topics_data": [],
                "rack_id": "",
            },
        )

    def fetch(self, topic: str, offset: int, partition: int = 0) -> Any:
        """Fetch v12 from one partition without waiting; returns that partition's answer."""
        self.send_raw(self.fetch_request(topic, offset, partition=partition))
        return self.read_response(1, 12).responses[0].partitions[0]
