"""The shared schema plan (``broker.protocol.schema_plan``) reads every kio schema as kio does.

For every request, response and header class kio ships, and every struct nested in them, the
plan lists the same fields in the same order and classifies each one with kio's own
introspection: array or not, struct or primitive type, tag, nullability, and compact lengths
in flexible versions except ``RequestHeader.client_id``. The response builder compiled from
the plan rebuilds any kio response from plain values; the length check compiled from it is
checked against kio's reader in ``test_lengths``, and both against served versions in
``test_kio_round_trips``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st
from kio.index import KioIndexError, load_response_schema
from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    classify_field,
    get_field_tag,
    get_schema_field_type,
    is_optional,
)

from broker.protocol.codec import build, request_class
from broker.protocol.schema_plan import EntityPlan, entity_plan
from tests.unit.protocol.kio_strategies import entities, plain


def kio_messages() -> Iterator[type]:
    for api_key in range(100):
        for version in range(30):
            request = request_class(api_key, version)
            if request is None:
                continue
            yield request
            yield request.__header_schema__
            try:
                response = load_response_schema(api_key, version)
            except KioIndexError:
                continue
            yield response
            yield response.__header_schema__


def every_plan() -> list[EntityPlan]:
    """The plan of every kio message and header class and of every struct inside them."""
    seen: dict[type, EntityPlan] = {}
    stack = list(kio_messages())
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen[cls] = entity_plan(cls)
            stack += [field.entity.cls for field in seen[cls].fields if field.entity]
    return list(seen.values())


PLANS = every_plan()


def test_every_kio_schema_is_covered():
    names = {plan.cls.__name__ for plan in PLANS}
    assert {"RequestHeader", "ResponseHeader", "ProduceRequest", "FetchResponse"} <= names
    assert len(PLANS) > 1000


def test_the_plan_lists_the_fields_kio_reads_in_its_order():
    for plan in PLANS:
        assert plan.flexible is plan.cls.__flexible__
        assert [f.name for f in plan.fields] == [f.name for f in dataclasses.fields(plan.cls)]


def test_each_field_is_classified_as_kio_classifies_it():
    for plan in PLANS:
        in_header = plan.cls.__name__ == "RequestHeader"
        for field, kio_field in zip(plan.fields, dataclasses.fields(plan.cls), strict=True):
            where = f"{plan.cls.__qualname__}.{field.name}"
            kind = classify_field(kio_field)
            assert field.array is kind.is_array, where
            if isinstance(kind, EntityField | EntityTupleField):
                assert (field.entity.cls, field.kafka_type) == (kind.type_, None), where
            else:
                assert field.entity is None, where
                assert field.kafka_type == get_schema_field_type(kio_field), where
            assert field.tag == get_field_tag(kio_field), where
            if not field.array:  # kio's is_optional looks into an array's items
                assert field.nullable is is_optional(kio_field), where
            client_id = in_header and field.name == "client_id"  # a legacy string in v2 too
            assert field.compact is (plan.flexible and not client_id), where


def test_nullable_arrays_and_array_items_are_told_apart():
    fields = {field.name: field for field in entity_plan(request_class(63, 2)).fields}
    # BrokerHeartbeat v2: tuple[uuid.UUID | None, ...] | None may be null as a whole; its
    # items are uuids, 16 bytes each, which is all the wire and the length check care about.
    cordoned = fields["cordoned_log_dirs"]
    assert (cordoned.array, cordoned.nullable, cordoned.kafka_type) == (True, True, "uuid")
    offline = fields["offline_log_dirs"]  # tuple[uuid.UUID | None, ...]
    assert (offline.array, offline.nullable, offline.kafka_type) == (True, False, "uuid")


EVERY_KIO_RESPONSE = [plan.cls for plan in PLANS if plan.cls.__name__.endswith("Response")]


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(EVERY_KIO_RESPONSE), st.data())
def test_the_codec_builds_every_kio_response_from_plain_values(cls, data):
    # Handlers answer with ints, lists and dicts; the builder compiled from the plan must give
    # back exactly the entity kio would write, for every schema kio ships.
    entity = data.draw(entities(cls))
    assert build(cls, plain(entity)) == entity
