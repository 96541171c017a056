"""Hostile bytes through framing, request decoding and Produce's batch checks (plans F1 and
F4, the cheap CI half of ``tests/fuzz``): raise nothing but the protocol's own errors, and
decode the same whole, byte by byte, or in random chunks.
"""

from __future__ import annotations

import dataclasses
import io
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.serial import entity_writer

from broker.net.handlers import REGISTRY
from broker.protocol.codec import request_class
from tests.fuzz.pipeline import split_agree
from tests.unit.protocol.kio_strategies import entities

SERVED = [
    (spec.api_key, version)
    for spec in map(REGISTRY.get, (s["api_key"] for s in REGISTRY.advertised()))
    for version in range(spec.min_version, spec.max_version + 1)
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def framed(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


cuts = st.lists(st.integers(0, 10_000), max_size=6)


@FUZZ
@given(st.binary(max_size=600), cuts)
def test_random_streams(stream, cut_points):
    split_agree(stream, cut_points)


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=4), cuts)
def test_random_payloads_in_well_formed_frames(payloads, cut_points):
    split_agree(b"".join(map(framed, payloads)), cut_points)


@FUZZ
@given(st.sampled_from(SERVED), st.integers(-(2**31), 2**31 - 1), st.binary(max_size=300), cuts)
def test_served_headers_with_random_bodies(api, correlation_id, body, cut_points):
    api_key, version = api
    split_agree(
        framed(struct.pack(">hhi", api_key, version, correlation_id) + body), cuts=cut_points
    )


def real_request(api_key: int, version: int, body: Any, header: Any) -> bytes:
    cls = request_class(api_key, version)
    header = dataclasses.replace(header, request_api_key=api_key, request_api_version=version)
    out = io.BytesIO()
    entity_writer(type(header))(out, header)
    entity_writer(cls)(out, body)
    return out.getvalue()


@st.composite
def mutated_requests(draw) -> bytes:
    """A real request of a served API and version, then cut, extended or bit-flipped."""
    api_key, version = draw(st.sampled_from(SERVED))
    cls = request_class(api_key, version)
    payload = bytearray(
        real_request(api_key, version, draw(entities(cls)), draw(entities(cls.__header_schema__)))
    )
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, max(len(payload) - 1, 0)))
        action = draw(st.sampled_from(["flip", "cut", "insert", "max"]))
        if action == "flip" and payload:
            payload[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del payload[position:]
        elif action == "insert":
            payload[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif payload:
            payload[position] = 0xFF  # lengths and counts at their extremes
    return bytes(payload)


@FUZZ
@given(mutated_requests(), cuts)
def test_mutated_real_requests(payload, cut_points):
    split_agree(framed(payload), cut_points)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(SERVED), st.data())
def test_unmutated_real_requests_are_served(api, data):
    api_key, version = api
    cls = request_class(api_key, version)
    payload = real_request(
        api_key, version, data.draw(entities(cls)), data.draw(entities(cls.__header_schema__))
    )
    served = split_agree(framed(payload), [], bytewise=False)
    assert len(served) == 1
    assert served[0] not in ("close", "bad frame size") and served[0][0] != "unsupported"
