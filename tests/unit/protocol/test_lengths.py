"""The declared-length pre-scan that runs before kio's native reader (``broker.protocol.lengths``).

Real requests pass it unchanged and it ends where kio ends; a declared length (array count,
string, bytes, tagged field) larger than the bytes left is ``ProtocolError``, never a
reservation of that much memory, and so is a null where the schema allows none; the atheris
crash input is refused.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kio.serial import entity_reader, entity_writer

from broker.protocol.codec import build, read_request, request_class
from broker.protocol.errors import ProtocolError
from broker.protocol.framing import FrameDecoder
from broker.protocol.lengths import length_check
from broker.protocol.varint import uvarint
from tests.unit.protocol.kio_strategies import entities
from tests.unit.protocol.test_request_fuzz import SERVED

FUZZ = Path(__file__).parents[2] / "fuzz"
EVERY_KIO_REQUEST = [
    (api_key, version)
    for api_key in range(100)
    for version in range(30)
    if request_class(api_key, version) is not None
]
QUICK = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def kio_request(api_key: int, version: int, body: Any, header: Any) -> bytes:
    """Header and body exactly as kio's writer puts them on the wire."""
    header = dataclasses.replace(header, request_api_key=api_key, request_api_version=version)
    out = io.BytesIO()
    entity_writer(type(header))(out, header)
    entity_writer(request_class(api_key, version))(out, body)
    return out.getvalue()


def encode(api_key: int, version: int, body: dict[str, Any]) -> bytes:
    header_cls = request_class(api_key, version).__header_schema__
    header = build(
        header_cls,
        {
            "request_api_key": api_key,
            "request_api_version": version,
            "correlation_id": 7,
            "client_id": "lengths-test",
        },
    )
    return kio_request(api_key, version, build(request_class(api_key, version), body), header)


def refused(payload: bytes) -> str:
    cls = request_class(*struct.unpack_from(">hh", payload))
    with pytest.raises(ProtocolError) as pre_scan:
        length_check(cls)(payload)
    with pytest.raises(ProtocolError):
        read_request(payload)
    return str(pre_scan.value)


# (a) Everything a real writer produces passes, and the walk ends where kio's reader ends.


@pytest.mark.parametrize(("api_key", "version"), SERVED, ids=str)
@settings(QUICK, max_examples=8)
@given(data=st.data())
def test_served_requests_pass_and_end_where_kio_ends(api_key, version, data):
    cls = request_class(api_key, version)
    payload = kio_request(
        api_key, version, data.draw(entities(cls)), data.draw(entities(cls.__header_schema__))
    )
    assert length_check(cls)(payload) == len(payload)


@settings(QUICK, max_examples=400)
@given(st.sampled_from(EVERY_KIO_REQUEST), st.data())
def test_every_kio_request_schema_passes(api, data):
    # Decoding runs before the served check, so unserved APIs must be walked right too.
    cls = request_class(*api)
    payload = kio_request(
        *api, data.draw(entities(cls)), data.draw(entities(cls.__header_schema__))
    )
    assert length_check(cls)(payload) == len(payload)


def client_frames() -> list[Any]:
    """Every frame of the real-client seeds (ck-: confluent-kafka, kp-: kafka-python)."""
    return [
        pytest.param(frame, id=f"{seed.name}-{index}")
        for seed in sorted(FUZZ.glob("corpus/[ck][kp]-*"))
        for index, frame in enumerate(FrameDecoder(1 << 20).feed(seed.read_bytes()[2:]))
    ]


@pytest.mark.parametrize("payload", client_frames())
def test_real_client_frames_pass_unchanged(payload):
    cls = request_class(*struct.unpack_from(">hh", payload))
    _, used = entity_reader(cls.__header_schema__)(payload, 0)
    body, size = entity_reader(cls)(payload, used)
    assert length_check(cls)(payload) == used + size  # librdkafka may leave trailing bytes
    assert read_request(payload).body == body


@st.composite
def mutated(draw: st.DrawFn) -> tuple[type, bytes]:
    """A request class of any kio schema and its bytes, then flipped, cut, extended or set."""
    api = draw(st.sampled_from(EVERY_KIO_REQUEST))
    cls = request_class(*api)
    payload = bytearray(
        kio_request(*api, draw(entities(cls)), draw(entities(cls.__header_schema__)))
    )
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(payload) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "0xff", "0x00"]))
        if action == "flip":
            payload[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del payload[max(at, 1) :]
        elif action == "insert":
            payload[at:at] = draw(st.binary(min_size=1, max_size=6))
        else:
            payload[at] = int(action, 16)
    return cls, bytes(payload)


@settings(QUICK, max_examples=500)
@given(mutated())
def test_what_passes_is_read_by_kio_to_the_same_end_with_no_forbidden_null(case):
    # The walk and kio's reader agree on every byte, so no length escapes the walk, and kio
    # hands back None only where the schema allows it.
    cls, payload = case
    try:
        end = length_check(cls)(payload)
    except ProtocolError:
        return
    try:
        _, used = entity_reader(cls.__header_schema__)(payload, 0)
        body, size = entity_reader(cls)(payload, used)
    except Exception:  # kio refuses it for another reason (utf-8, a null, a short field)
        return
    assert used + size == end
    assert forbidden_null(body) is None


# (b) A declared length past the end of the frame is refused, for every kind of length.

PRODUCE = {
    "transactional_id": None,
    "acks": -1,
    "timeout": 5000,
    "topic_data": [{"name": "TOPIC", "partition_data": [{"index": 0, "records": b"RECORDS!"}]}],
}
LEGACY, FLEXIBLE = encode(0, 3, PRODUCE), encode(0, 9, PRODUCE)
# Where each length sits, and its width: int16/int32 in v3, one-byte uvarints in v9.
NAME, RECORDS = LEGACY.index(b"TOPIC"), LEGACY.index(b"RECORDS!")
LEGACY_LENGTHS = {
    "array": (NAME - 6, ">i"),
    "nested-array": (NAME + 5, ">i"),
    "string": (NAME - 2, ">h"),
    "bytes": (RECORDS - 4, ">i"),
}
NAME, RECORDS = FLEXIBLE.index(b"TOPIC"), FLEXIBLE.index(b"RECORDS!")
COMPACT_LENGTHS = {
    "compact-array": NAME - 2,
    "compact-nested-array": NAME + 5,
    "compact-string": NAME - 1,
    "compact-bytes": RECORDS - 1,
}


def test_the_length_positions_are_right():
    assert length_check(request_class(0, 3))(LEGACY) == len(LEGACY)
    for at, form in LEGACY_LENGTHS.values():
        assert struct.unpack_from(form, LEGACY, at)[0] in (1, 5, 8)
    assert [FLEXIBLE[at] for at in COMPACT_LENGTHS.values()] == [2, 2, 6, 9]


@pytest.mark.parametrize("kind", LEGACY_LENGTHS)
@settings(QUICK, max_examples=25)
@given(declared=st.integers(len(LEGACY), 2**31 - 1))
def test_a_legacy_length_past_the_end_is_refused(kind, declared):
    at, form = LEGACY_LENGTHS[kind]
    declared = min(declared, 2**15 - 1) if form == ">h" else declared
    patched = bytearray(LEGACY)
    struct.pack_into(form, patched, at, declared)
    assert "does not fit" in refused(bytes(patched))


@pytest.mark.parametrize("kind", COMPACT_LENGTHS)
@settings(QUICK, max_examples=25)
@given(declared=st.integers(len(FLEXIBLE), 2**35 - 2))
def test_a_compact_length_past_the_end_is_refused(kind, declared):
    at = COMPACT_LENGTHS[kind]
    patched = FLEXIBLE[:at] + uvarint(declared + 1) + FLEXIBLE[at + 1 :]
    assert "does not fit" in refused(patched)


def test_a_length_that_fits_exactly_passes_and_one_more_does_not():
    at, _ = LEGACY_LENGTHS["bytes"]  # records is the last field of Produce v3
    exact = LEGACY[:at] + struct.pack(">i", len(LEGACY) - at - 4) + LEGACY[at + 4 :]
    assert length_check(request_class(0, 3))(exact) == len(LEGACY)
    over = LEGACY[:at] + struct.pack(">i", len(LEGACY) - at - 3) + LEGACY[at + 4 :]
    assert "does not fit" in refused(over)


def test_lengths_below_null_are_refused():
    at, _ = LEGACY_LENGTHS["array"]
    assert "does not fit" in refused(LEGACY[:at] + struct.pack(">i", -2) + LEGACY[at + 4 :])


def test_a_varint_longer_than_five_bytes_is_refused():
    at = COMPACT_LENGTHS["compact-string"]
    assert "longer than 5 bytes" in refused(FLEXIBLE[:at] + b"\x86\x80\x80\x80\x80\x00")


FETCH = encode(
    1,
    12,
    {
        "replica_id": -1,
        "max_wait": 500,
        "min_bytes": 1,
        "max_bytes": 1 << 20,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [],
        "forgotten_topics_data": [],
        "rack_id": "",
        "cluster_id": "abc",
    },
)
TAGS = b"\x01\x00\x04\x04abc"  # one tagged field: tag 0 (cluster_id), 4 bytes, "abc"


@pytest.mark.parametrize(
    ("tail", "says"),
    [
        pytest.param(b"\x01\x00\x7f\x04abc", "does not fit", id="size-past-the-end"),
        pytest.param(b"\xff\xff\xff\xff\x0f\x00\x04\x04abc", "does not fit", id="huge-count"),
        pytest.param(b"\x01\x00\x06\x04abc\x00\x00", "is not 6 bytes", id="size-not-the-value"),
        pytest.param(b"\x01\x00\x02\x04abc", "does not fit", id="value-past-its-size"),
        pytest.param(b"\x01\x05\x01\x00", "unknown tagged field 5", id="unknown-tag"),
    ],
)
def test_tagged_fields_are_checked(tail, says):
    assert FETCH.endswith(TAGS)
    assert length_check(request_class(1, 12))(FETCH) == len(FETCH)
    assert says in refused(FETCH[: -len(TAGS)] + tail)


def test_the_request_header_tags_are_checked():
    header_tags = FETCH.index(b"lengths-test") + len("lengths-test")
    assert FETCH[header_tags] == 0
    huge = FETCH[:header_tags] + uvarint(2**31) + FETCH[header_tags + 1 :]
    assert "does not fit" in refused(huge)


def test_a_frame_ending_inside_a_length_is_refused():
    assert "ends inside a length" in refused(LEGACY[: NAME - 1])


# (c) A null (length or count -1, compact 0) only where the schema allows one: kio would hand
# handlers None for any array (found by atheris: a Produce with topic_data=None).

NULLS = {
    "array": "ProduceRequest.topic_data",
    "nested-array": "TopicProduceData.partition_data",
    "string": "TopicProduceData.name",
}


@pytest.mark.parametrize("kind", NULLS)
def test_a_legacy_null_the_schema_forbids_is_refused(kind):
    at, form = LEGACY_LENGTHS[kind]
    patched = bytearray(LEGACY)
    struct.pack_into(form, patched, at, -1)
    assert f"{NULLS[kind]} is null" in refused(bytes(patched))


@pytest.mark.parametrize("kind", NULLS)
def test_a_compact_null_the_schema_forbids_is_refused(kind):
    at = COMPACT_LENGTHS[f"compact-{kind}"]
    assert f"{NULLS[kind]} is null" in refused(FLEXIBLE[:at] + b"\x00" + FLEXIBLE[at + 1 :])


def test_nulls_the_schema_allows_pass():
    at, _ = LEGACY_LENGTHS["bytes"]  # records: Records | None; transactional_id is null too
    payload = LEGACY[:at] + struct.pack(">i", -1)
    assert length_check(request_class(0, 3))(payload) == len(payload)
    request = read_request(payload)
    assert request.body.transactional_id is None
    assert request.body.topic_data[0].partition_data[0].records is None


def array_paths(entity: Any, path: tuple = ()) -> list[tuple]:
    """Where a drawn entity holds an array its type does not let be null: each a path of field
    names and item indexes."""
    hints = typing.get_type_hints(type(entity))
    paths = []
    for field in dataclasses.fields(entity):
        value = getattr(entity, field.name)
        if isinstance(value, tuple):
            if typing.get_origin(hints[field.name]) is tuple:  # not "tuple[...] | None"
                paths.append((*path, field.name))
            for index, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    paths += array_paths(item, (*path, field.name, index))
        elif dataclasses.is_dataclass(value):
            paths += array_paths(value, (*path, field.name))
    return paths


def with_null(entity: Any, path: tuple) -> Any:
    """``entity`` with the array at ``path`` set to None (kio writes it as a null count)."""
    name, *rest = path
    value = getattr(entity, name)
    if not rest:
        value = None
    elif isinstance(value, tuple):
        index, *rest = rest
        value = (*value[:index], with_null(value[index], tuple(rest)), *value[index + 1 :])
    else:
        value = with_null(value, tuple(rest))
    return dataclasses.replace(entity, **{name: value})


@settings(QUICK, max_examples=200)
@given(st.sampled_from(EVERY_KIO_REQUEST), st.data())
def test_a_null_array_anywhere_the_schema_forbids_is_refused(api, data):
    cls = request_class(*api)
    body = data.draw(entities(cls))
    paths = array_paths(body)
    assume(paths)
    path = data.draw(st.sampled_from(paths))
    header = data.draw(entities(cls.__header_schema__))
    with pytest.raises(ProtocolError, match=rf"\.{path[-1]} is null"):
        length_check(cls)(kio_request(*api, with_null(body, path), header))


def forbidden_null(entity: Any) -> str | None:
    """The first field in a decoded entity that holds None though its type forbids it."""
    hints = typing.get_type_hints(type(entity))
    for field in dataclasses.fields(entity):
        value = getattr(entity, field.name)
        if value is None and type(None) not in typing.get_args(hints[field.name]):
            return f"{type(entity).__qualname__}.{field.name}"
        for item in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(item) and (found := forbidden_null(item)):
                return found
    return None


# (d) The input atheris found: a FindCoordinator v6 whose compact array claims 27 billion keys,
# then empty frames (each too short for a header).


def test_the_atheris_crash_input_is_refused_without_killing_the_process():
    # In a child process: if the pre-scan ever let it through, kio would abort pytest itself.
    crash = FUZZ / "crashes" / "kio-oom-find-coordinator-v6"
    replay = (
        "import sys\n"
        "from tests.fuzz.pipeline import split_agree\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "print(set(split_agree(data[2:], list(data[:2]))))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", replay, str(crash)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[3],
    )
    assert (child.returncode, child.stdout.strip()) == (0, "{'close'}"), child.stderr
