"""Hostile and malformed input over raw sockets: the offending connection is closed (or gets
Kafka's error code), nothing is appended, and every other connection keeps being served."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from broker.protocol.records import seal_batch
from tests.support.batches import make_batch
from tests.support.wire import WireClient

API_VERSIONS, PRODUCE = 18, 0
OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE, UNKNOWN_TOPIC_OR_PARTITION = 1, 2, 3
MESSAGE_TOO_LARGE, INVALID_REQUIRED_ACKS, INVALID_RECORD = 10, 21, 87


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
        pytest.param(struct.pack(">i", 1_000_001), id="one-over-socket.request.max.bytes"),
        # An HTTP client on the Kafka port: "GET " reads as a 1195725856-byte frame.
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http-get"),
        pytest.param(struct.pack(">i", 12) + b"\xff" * 12, id="garbage-body"),
        pytest.param(struct.pack(">i", 6) + b"\x00\x03\x00\x0c\x00\x00", id="truncated-header"),
        pytest.param(
            struct.pack(">i", 10) + struct.pack(">hhih", 999, 0, 1, -1), id="unknown-api-key"
        ),
        pytest.param(
            struct.pack(">i", 10) + struct.pack(">hhih", 88, 0, 1, -1), id="unknown-api-key-88"
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
        assert keys[1] == (4, 15)


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


def test_a_frame_of_exactly_socket_request_max_bytes_is_read_and_answered(served):
    """The size limit is inclusive: a 1,000,000-byte request is parsed, and refused only by
    the batch limit (message.max.bytes=20000) with an error code, not by closing."""
    with WireClient(served.port) as client:
        value_size = 1_000_000
        while True:
            request = client.produce_request("t", make_batch([b"v" * value_size]))
            excess = len(request) - 4 - 1_000_000
            if excess == 0:
                break
            value_size -= excess
        client.send_raw(request)
        answer = client.read_response(PRODUCE, 9).responses[0].partition_responses[0]
        assert answer.error_code == MESSAGE_TOO_LARGE
    assert high_watermark(served.port) == 0


def test_garbage_gets_one_warning_line_per_connection_and_no_traceback(served):
    before = served.read_log()
    for _ in range(20):
        with WireClient(served.port) as client:
            client.send_raw(struct.pack(">i", 12) + b"\xff" * 12)
            assert client.is_closed_by_peer()
    # Every close is logged before the socket is aborted, so the lines are already written.
    new = served.read_log()[len(before) :]
    assert new.count("WARNING broker.net: closing") == 20
    assert "Traceback" not in new


def test_produce_to_an_unknown_topic_or_partition(served):
    with WireClient(served.port) as client:
        answer = client.produce("t", make_batch([b"x"]), partition=5)
        assert answer.error_code == UNKNOWN_TOPIC_OR_PARTITION
    with WireClient(served.port) as client:
        # Produce never creates topics (only Metadata does, with auto.create.topics.enable).
        answer = client.produce("never-made", make_batch([b"x"]))
        assert answer.error_code == UNKNOWN_TOPIC_OR_PARTITION
    assert high_watermark(served.port) == 0


def test_fetch_beyond_the_log_end_is_offset_out_of_range(served):
    with WireClient(served.port) as client:
        assert client.produce("t", make_batch([b"a", b"b"])).error_code == 0
        at_end = client.fetch("t", 2)
        beyond = client.fetch("t", 3)
    assert (at_end.error_code, at_end.high_watermark) == (0, 2)
    assert (beyond.error_code, beyond.high_watermark) == (OFFSET_OUT_OF_RANGE, 2)


def test_wrong_magic_is_invalid_record(served):
    batch = bytearray(make_batch([b"x"]))
    batch[16] = 1  # magic lies outside the CRC: only the header check can catch it
    with WireClient(served.port) as client:
        answer = client.produce("t", bytes(batch))
    assert answer.error_code == INVALID_RECORD
    assert high_watermark(served.port) == 0


def test_a_record_count_that_disagrees_with_the_offsets_is_invalid_record(served):
    real = make_batch([b"a", b"b", b"c"])
    lying = seal_batch(real[61:], count=5, last_offset_delta=2, timestamp=1_700_000_000_000)
    with WireClient(served.port) as client:
        answer = client.produce("t", lying)
    assert answer.error_code == INVALID_RECORD
    assert high_watermark(served.port) == 0


def test_a_request_ahead_of_a_bad_size_in_the_same_write_is_served_then_closed(served):
    with WireClient(served.port) as client:
        produce = client.produce_request("t", make_batch([b"kept"]), acks=1)
        client.send_raw(produce + struct.pack(">i", -1))
        answer = client.read_response(PRODUCE, 9).responses[0].partition_responses[0]
        assert (answer.error_code, answer.base_offset) == (0, 0)
        assert client.is_closed_by_peer()
    assert high_watermark(served.port) == 1


def test_a_huge_declared_array_length_does_not_kill_the_broker(broker):
    # kio 0.6.5's native reader would reserve memory for the declared length and abort the
    # process; broker.protocol.lengths refuses the frame first (found by atheris).
    crash = Path(__file__).parents[1] / "fuzz" / "crashes" / "kio-oom-find-coordinator-v6"
    with WireClient(broker.port) as client:
        client.send_raw(crash.read_bytes()[2:])  # the two leading bytes are the harness's cuts
        assert client.is_closed_by_peer()
    with WireClient(broker.port) as probe:  # refused when the broker has died
        answer = probe.request(
            API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"}
        )
        assert answer.error_code == 0
