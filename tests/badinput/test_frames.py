"""Hostile and malformed input over raw sockets: the offending connection is closed (or gets
Kafka's error code), nothing is appended, and every other connection keeps being served."""

from __future__ import annotations

import struct

import pytest

from tests.support.batches import make_batch
from tests.support.wire import WireClient

API_VERSIONS, PRODUCE = 18, 0
CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, INVALID_REQUIRED_ACKS, INVALID_RECORD = 2, 10, 21, 87


@pytest.fixture
def served(broker_factory):
    """A broker with a one-partition topic, and a bystander connection kept open throughout."""
    broker = broker_factory(
        config={"message.max.bytes": "20000", "socket.request.max.bytes": "1000000"}
    )
    bystander = WireClient(broker.port)
    bystander.metadata("t")
    yield broker
    # The bystander must still be served after whatever the test did.
    answer = bystander.request(
        API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
    )
    assert answer.error_code == 0
    bystander.close()


def high_watermark(port: int) -> int:
    with WireClient(port) as client:
        return client.latest_offset("t")


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(struct.pack(">i", -1), id="negative-size"),
        pytest.param(struct.pack(">i", 2_000_000_000), id="oversized"),
        pytest.param(struct.pack(">i", 12) + b"\xff" * 12, id="garbage-body"),
        pytest.param(struct.pack(">i", 6) + b"\x00\x03\x00\x0c\x00\x00", id="truncated-header"),
        pytest.param(
            struct.pack(">i", 10) + struct.pack(">hhih", 999, 0, 1, -1), id="unknown-api-key"
        ),
        pytest.param(
            struct.pack(">i", 10) + struct.pack(">hhih", 3, 99, 1, -1), id="unsupported-version"
        ),
        pytest.param(
            struct.pack(">i", 10) + struct.pack(">hhih", 0, 2, 1, -1), id="produce-v2-below-floor"
        ),
    ],
)
def test_malformed_frame_closes_only_that_connection(served, frame):
    with WireClient(served.port) as client:
        client.send_raw(frame)
        assert client.is_closed_by_peer()


def test_truncated_body_closes_connection(served):
    with WireClient(served.port) as client:
        whole = client.produce_request("t", make_batch([b"x"]))
        cut = whole[4:-10]
        client.send_raw(struct.pack(">i", len(cut)) + cut)
        assert client.is_closed_by_peer()
    assert high_watermark(served.port) == 0


def test_unknown_api_versions_version_answers_error_35_and_stays_open(served):
    with WireClient(served.port) as client:
        client.send_raw(struct.pack(">i", 10) + struct.pack(">hhih", API_VERSIONS, 99, 7, -1))
        payload = client.read_frame()
        correlation, error = struct.unpack_from(">ih", payload)
        assert (correlation, error) == (7, 35)
        advertised = client.request(
            API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
        )
        keys = {k.api_key: (k.min_version, k.max_version) for k in advertised.api_keys}
        assert keys[PRODUCE] == (0, 11)
        assert keys[1] == (4, 12)


def test_bad_crc_is_corrupt_message_and_appends_nothing(served):
    batch = bytearray(make_batch([b"hello", b"world"]))
    batch[-1] ^= 0xFF
    with WireClient(served.port) as client:
        answer = client.produce("t", bytes(batch))
    assert answer.error_code == CORRUPT_MESSAGE
    assert high_watermark(served.port) == 0


def test_a_good_batch_after_a_bad_one_lands_at_offset_zero(served):
    bad = bytearray(make_batch([b"a"]))
    bad[30] ^= 1
    with WireClient(served.port) as client:
        first = client.produce("t", bytes(bad))
        second = client.produce("t", make_batch([b"a", b"b"]))
    assert first.error_code == CORRUPT_MESSAGE
    good = second
    assert (good.error_code, good.base_offset) == (0, 0)
    assert high_watermark(served.port) == 2


def test_batch_over_max_message_bytes_is_refused(served):
    with WireClient(served.port) as client:
        answer = client.produce("t", make_batch([b"x" * 30_000]))
    assert answer.error_code == MESSAGE_TOO_LARGE
    assert high_watermark(served.port) == 0


def test_bytes_that_are_not_a_batch_are_invalid_record(served):
    with WireClient(served.port) as client:
        answer = client.produce("t", b"\x00" * 70)
    assert answer.error_code == INVALID_RECORD
    assert high_watermark(served.port) == 0


def test_invalid_acks_is_refused(served):
    with WireClient(served.port) as client:
        answer = client.produce("t", make_batch([b"x"]), acks=2)
    assert answer.error_code == INVALID_REQUIRED_ACKS
    assert high_watermark(served.port) == 0


def test_acks_zero_failure_closes_the_connection(served):
    batch = bytearray(make_batch([b"x"]))
    batch[-1] ^= 0xFF
    with WireClient(served.port) as client:
        client.send_raw(client.produce_request("t", bytes(batch), acks=0))
        assert client.is_closed_by_peer()
    assert high_watermark(served.port) == 0


def test_acks_zero_success_sends_no_response(served):
    with WireClient(served.port) as client:
        client.send_raw(client.produce_request("t", make_batch([b"x"]), acks=0))
        # The next request's answer is the first frame on the wire.
        answer = client.request(
            API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
        )
        assert answer.error_code == 0
    assert high_watermark(served.port) == 1
