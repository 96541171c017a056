"""Every (API, version) the broker serves, with kio as the differential oracle (plan F3).

Requests: whatever kio's writer produces, ``read_request`` decodes to an equal value.
Responses: ``encode_response`` fed plain values (ints, lists, dicts, as handlers build them)
produces exactly the bytes kio's writer produces for the same message.
"""

from __future__ import annotations

import dataclasses
import io
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.serial import entity_writer

from broker.net.handlers import REGISTRY
from broker.protocol.codec import encode_response, read_request, request_class, response_class
from tests.unit.protocol.kio_strategies import entities, plain

SERVED = [
    (spec["api_key"], version)
    for spec in REGISTRY.advertised()
    for version in range(
        REGISTRY.get(spec["api_key"]).min_version, REGISTRY.get(spec["api_key"]).max_version + 1
    )
]
FEW = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def kio_bytes(entity_cls: type, header, entity) -> bytes:
    out = io.BytesIO()
    entity_writer(type(header))(out, header)
    entity_writer(entity_cls)(out, entity)
    return out.getvalue()


@pytest.mark.parametrize(("api_key", "version"), SERVED, ids=lambda v: str(v))
@FEW
@given(data=st.data())
def test_requests_kio_writes_decode_to_the_same_value(api_key, version, data):
    cls = request_class(api_key, version)
    body = data.draw(entities(cls))
    header_cls = cls.__header_schema__
    header = dataclasses.replace(
        data.draw(entities(header_cls)), request_api_key=api_key, request_api_version=version
    )
    request = read_request(kio_bytes(cls, header, body))
    assert (request.api_key, request.version) == (api_key, version)
    assert request.correlation_id == header.correlation_id
    assert request.client_id == header.client_id
    assert request.body == body


@pytest.mark.parametrize(("api_key", "version"), SERVED, ids=lambda v: str(v))
@FEW
@given(data=st.data())
def test_responses_from_plain_values_match_kio_byte_for_byte(api_key, version, data):
    cls = response_class(api_key, version)
    body = data.draw(entities(cls))
    correlation_id = data.draw(entities(cls.__header_schema__)).correlation_id
    ours = encode_response(api_key, version, correlation_id, plain(body))
    expected = kio_bytes(cls, cls.__header_schema__(correlation_id=correlation_id), body)
    assert ours == struct.pack(">i", len(expected)) + expected
