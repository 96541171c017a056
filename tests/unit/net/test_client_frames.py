"""The outbound client's request frames read back, header and body, as the server reads them."""

from __future__ import annotations

import struct

import pytest
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.broker_heartbeat.v0.request import BrokerHeartbeatRequest
from kio.schema.metadata.v0.request import MetadataRequest

from broker.net.client import KafkaClient
from broker.protocol.codec import read_request

BODIES = [
    MetadataRequest(topics=()),  # request header v1: a client id, no tagged fields
    BrokerHeartbeatRequest(
        broker_id=1,
        broker_epoch=4,
        current_metadata_offset=9,
        want_fence=False,
        want_shut_down=True,
    ),  # header v2: a client id and tagged fields
    ApiVersionsRequest(client_software_name="x", client_software_version="1"),
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: type(b).__name__)
@pytest.mark.parametrize("correlation_id", [1, 77, 2**31 - 1])
def test_a_request_frame_reads_back_with_its_correlation_id_and_client_id(body, correlation_id):
    # The header is encoded once per API and version; each frame puts its correlation id in.
    client = KafkaClient("127.0.0.1", 1, client_id="node-3")
    frame = client._frame(body, correlation_id)
    assert struct.unpack_from(">i", frame)[0] == len(frame) - 4
    request = read_request(frame[4:])
    assert (request.api_key, request.version) == (body.__api_key__, body.__version__)
    assert (request.correlation_id, request.client_id) == (correlation_id, "node-3")
    assert request.body == body
