"""The CONTROLLER listener's handlers: real kio requests, encoded to bytes and decoded as the
server decodes them, through the handler and the quorum controller (over an in-memory
metadata log), and the answer encoded and read back as a client reads it."""

from __future__ import annotations

import asyncio
import functools
import io
import random
import uuid
from dataclasses import replace
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

from broker.clock import ManualClock
from broker.config import BrokerConfig
from broker.controller.quorum import ControllerSettings, QuorumController
from broker.net.controller_handlers import CONTROLLER_REGISTRY, ControllerContext
from broker.protocol.codec import build, encode_response, read_request, request_class
from broker.protocol.codec import response_class as response_cls
from tests.unit.controller.memory_log import MemoryLog


def context(*, leader: bool = True, config: BrokerConfig | None = None) -> ControllerContext:
    clock = ManualClock(1_000_000)
    log = MemoryLog()
    controller = QuorumController(
        0,
        log,
        clock,
        ControllerSettings(leader_imbalance_check_interval_ms=3_600_000),
        rng=random.Random(3),
    )
    if leader:
        log.become_leader()
    return ControllerContext(config or BrokerConfig(), clock, None, controller, node_id=0)


async def call(ctx: ControllerContext, api_key: int, version: int, body: dict[str, Any]) -> Any:
    """Send one request through the handler as bytes, and read the answer as a client does."""
    cls = request_class(api_key, version)
    header = {
        "request_api_key": api_key,
        "request_api_version": version,
        "correlation_id": 7,
        "client_id": "test",
    }
    out = io.BytesIO()
    entity_writer(cls.__header_schema__)(out, build(cls.__header_schema__, header))
    entity_writer(cls)(out, build(cls, body))
    request = read_request(out.getvalue())
    spec = CONTROLLER_REGISTRY.get(api_key)
    assert spec is not None and spec.serves(version)
    answer = await spec.handler(ctx, request)  # type: ignore[arg-type]
    payload = encode_response(api_key, version, 7, answer)[4:]  # after the size
    response = response_cls(api_key, version)
    header_read, used = entity_reader(response.__header_schema__)(payload, 0)
    assert header_read.correlation_id == 7
    body_read, _ = entity_reader(response)(payload, used)
    return body_read


def listener(port: int) -> dict:
    return {"name": "PLAINTEXT", "host": "127.0.0.1", "port": port, "security_protocol": 0}


async def join(ctx: ControllerContext, broker_id: int) -> int:
    """Register ``broker_id`` and unfence it with a caught-up heartbeat; its epoch."""
    registered = await call(
        ctx,
        62,
        4,
        {
            "broker_id": broker_id,
            "cluster_id": "chirp",
            "incarnation_id": uuid.UUID(int=broker_id + 1),
            "listeners": [listener(9092 + broker_id)],
            "features": [],
            "rack": None,
        },
    )
    assert registered.error_code == ErrorCode.none
    epoch = registered.broker_epoch
    beat = await heartbeat(ctx, broker_id, epoch, offset=epoch)
    assert beat.error_code == ErrorCode.none and not beat.is_fenced
    return epoch


async def heartbeat(ctx, broker_id: int, epoch: int, *, offset: int, shut_down=False) -> Any:
    body = {
        "broker_id": broker_id,
        "broker_epoch": epoch,
        "current_metadata_offset": offset,
        "want_fence": False,
        "want_shut_down": shut_down,
    }
    return await call(ctx, 63, 2, body)


def new_topic(name: str, partitions: int = 1, factor: int = 1, **kw) -> dict:
    return {
        "name": name,
        "num_partitions": partitions,
        "replication_factor": factor,
        "assignments": [],
        "configs": [],
    } | kw


def run(coroutine_function):
    """A test of ``coroutine_function``, run on its own event loop."""

    @functools.wraps(coroutine_function)
    def sync(*args, **kwargs) -> None:
        asyncio.run(coroutine_function(*args, **kwargs))

    return sync


# -- brokers ----------------------------------------------------------------------------------


@run
async def test_a_broker_registers_with_its_listeners_and_is_unfenced_once_caught_up() -> None:
    ctx = context()
    epoch = await join(ctx, 2)
    broker = ctx.controller.image.brokers[2]
    assert broker.epoch == epoch and not broker.fenced
    assert [(e.name, e.host, e.port) for e in broker.endpoints] == [
        ("PLAINTEXT", "127.0.0.1", 9094)
    ]


@run
async def test_a_heartbeat_from_a_stale_epoch_or_an_unknown_broker_is_refused() -> None:
    ctx = context()
    epoch = await join(ctx, 0)
    stale = await heartbeat(ctx, 0, epoch - 1, offset=epoch)
    unknown = await heartbeat(ctx, 9, 1, offset=epoch)
    assert stale.error_code == ErrorCode.stale_broker_epoch
    assert unknown.error_code == ErrorCode.broker_id_not_registered


@run
async def test_a_broker_shuts_down_in_a_controlled_way_through_its_heartbeats() -> None:
    ctx = context()
    epochs = [await join(ctx, b) for b in range(2)]
    created = await call(ctx, 19, 7, {"topics": [new_topic("t", 2, 2)], "timeout": 5000})
    assert created.topics[0].error_code == ErrorCode.none
    log = ctx.controller
    first = await heartbeat(ctx, 0, epochs[0], offset=log.committed_offset, shut_down=True)
    assert not first.should_shut_down and not first.is_fenced
    assert all(p.leader == 1 for _, _, p in ctx.controller.image.all_partitions())
    await heartbeat(ctx, 1, epochs[1], offset=log.committed_offset)
    done = await heartbeat(ctx, 0, epochs[0], offset=log.committed_offset, shut_down=True)
    assert done.should_shut_down and done.is_fenced


# -- not the controller -----------------------------------------------------------------------

REQUESTS = [
    (62, 4, {"broker_id": 0, "cluster_id": "c", "incarnation_id": uuid.UUID(int=1),
             "listeners": [], "features": [], "rack": None}),
    (63, 2, {"broker_id": 0, "broker_epoch": 1, "current_metadata_offset": 1,
             "want_fence": False, "want_shut_down": False}),
    (56, 3, {"broker_id": 0, "broker_epoch": 1, "topics": []}),
    (67, 0, {"broker_id": 0, "broker_epoch": 1}),
    (19, 7, {"topics": [new_topic("t")], "timeout": 1000, "validate_only": False}),
    (20, 6, {"topics": [{"name": "t", "topic_id": None}], "timeout": 1000}),
    (37, 3, {"topics": [{"name": "t", "count": 2, "assignments": None}], "timeout": 1000,
             "validate_only": False}),
    (43, 2, {"election_type": 0, "topic_partitions": [{"topic": "t", "partitions": [0]}],
             "timeout": 1000}),
]  # fmt: skip


def error_codes(response: Any) -> list[ErrorCode]:
    """Every error code in a response: top-level and per topic or partition."""
    codes = []
    if hasattr(response, "error_code"):
        codes.append(response.error_code)
    for many in ("topics", "responses", "results", "replica_election_results"):
        for item in getattr(response, many, ()):
            if hasattr(item, "error_code"):
                codes.append(item.error_code)
            for result in getattr(item, "partition_result", ()):
                codes.append(result.error_code)
    return codes


@pytest.mark.parametrize("api_key, version, body", REQUESTS, ids=lambda v: str(v)[:12])
@pytest.mark.parametrize("node", ["follower", "broker-only"])
@run
async def test_a_node_that_is_not_the_active_controller_answers_not_controller(
    node: str, api_key: int, version: int, body: dict
) -> None:
    ctx = context(leader=False)
    if node == "broker-only":
        ctx = replace(ctx, controller=None)
    codes = error_codes(await call(ctx, api_key, version, body))
    assert codes and set(codes) == {ErrorCode.not_controller}


# -- topics ----------------------------------------------------------------------------------


@run
async def test_create_topics_places_replicas_on_live_brokers_and_answers_with_id_and_configs():
    ctx = context()
    for b in range(3):
        await join(ctx, b)
    configs = [{"name": "retention.ms", "value": "60000"}]
    asked = [
        new_topic("tweets", 3, 3, configs=configs),
        new_topic("big", 1, 4),
        new_topic("twice"),
        new_topic("twice"),
        new_topic("defaults", -1, -1),
    ]
    answer = await call(ctx, 19, 7, {"topics": asked, "timeout": 5000, "validate_only": False})
    by_name = [(t.name, t.error_code) for t in answer.topics]
    assert by_name == [
        ("tweets", ErrorCode.none),
        ("big", ErrorCode.invalid_replication_factor),
        ("twice", ErrorCode.invalid_request),
        ("twice", ErrorCode.invalid_request),
        ("defaults", ErrorCode.none),
    ]
    tweets = answer.topics[0]
    image = ctx.controller.image
    assert tweets.topic_id == image.topics["tweets"].topic_id
    assert (tweets.num_partitions, tweets.replication_factor) == (3, 3)
    assert {c.name: c.value for c in tweets.configs}["retention.ms"] == "60000"
    assert image.topic_config("tweets") == {"retention.ms": "60000"}
    leaders = sorted(p.replicas[0] for p in image.topics["tweets"].partitions.values())
    assert leaders == [0, 1, 2]  # striped over the brokers
    assert answer.topics[4].num_partitions == 1  # num.partitions


@run
async def test_create_topics_validate_only_writes_nothing() -> None:
    ctx = context()
    await join(ctx, 0)
    written = len(ctx.controller.image.topics)
    answer = await call(
        ctx, 19, 7, {"topics": [new_topic("t")], "timeout": 1000, "validate_only": True}
    )
    assert answer.topics[0].error_code == ErrorCode.none and answer.topics[0].topic_id is None
    assert len(ctx.controller.image.topics) == written


@run
async def test_delete_topics_by_name_and_by_id_with_kafkas_refusals() -> None:
    ctx = context()
    await join(ctx, 0)
    topics = [new_topic(n) for n in ("a", "b", "c")]
    await call(ctx, 19, 7, {"topics": topics, "timeout": 1000, "validate_only": False})
    b_id = ctx.controller.image.topics["b"].topic_id
    asked = [
        {"name": "a", "topic_id": None},
        {"name": None, "topic_id": b_id},
        {"name": "c", "topic_id": None},
        {"name": "c", "topic_id": None},
        {"name": "nope", "topic_id": None},
        {"name": None, "topic_id": uuid.UUID(int=5)},
        {"name": "a", "topic_id": b_id},
    ]
    answer = await call(ctx, 20, 6, {"topics": asked, "timeout": 1000})
    assert [r.error_code for r in answer.responses] == [
        ErrorCode.none,
        ErrorCode.none,
        ErrorCode.invalid_request,
        ErrorCode.invalid_request,
        ErrorCode.unknown_topic_or_partition,
        ErrorCode.unknown_topic_id,
        ErrorCode.invalid_request,
    ]
    assert answer.responses[1].name == "b"
    assert set(ctx.controller.image.topics) == {"c"}


@pytest.mark.parametrize(
    ("version", "code"), [(1, ErrorCode.invalid_request), (6, ErrorCode.topic_deletion_disabled)]
)
@run
async def test_delete_topics_when_deletion_is_disabled(version: int, code: ErrorCode) -> None:
    ctx = context(config=BrokerConfig(delete_topic_enable=False))
    await join(ctx, 0)
    await call(ctx, 19, 7, {"topics": [new_topic("a")], "timeout": 1000, "validate_only": False})
    if version < 6:
        body: dict = {"topic_names": ["a"], "timeout": 1000}
    else:
        body = {"topics": [{"name": "a", "topic_id": None}], "timeout": 1000}
    answer = await call(ctx, 20, version, body)
    assert [r.error_code for r in answer.responses] == [code]
    assert "a" in ctx.controller.image.topics


@run
async def test_create_partitions_grows_a_topic_and_refuses_shrinking() -> None:
    ctx = context()
    await join(ctx, 0)
    await call(ctx, 19, 7, {"topics": [new_topic("a")], "timeout": 1000, "validate_only": False})
    grow = [{"name": "a", "count": 3, "assignments": None}]
    answer = await call(ctx, 37, 3, {"topics": grow, "timeout": 1000, "validate_only": False})
    assert answer.results[0].error_code == ErrorCode.none
    assert len(ctx.controller.image.topics["a"].partitions) == 3
    shrink = [{"name": "a", "count": 2, "assignments": None}]
    answer = await call(ctx, 37, 3, {"topics": shrink, "timeout": 1000, "validate_only": False})
    assert answer.results[0].error_code == ErrorCode.invalid_partitions


# -- partitions and producer ids ------------------------------------------------------------


@run
async def test_alter_partition_v3_shrinks_and_expands_with_broker_epochs() -> None:
    ctx = context()
    epochs = [await join(ctx, b) for b in range(2)]
    assignments = [{"partition_index": 0, "broker_ids": [0, 1]}]
    topic = new_topic("a", -1, -1, assignments=assignments)
    await call(ctx, 19, 7, {"topics": [topic], "timeout": 1000, "validate_only": False})
    topic_id = ctx.controller.image.topics["a"].topic_id

    def change(isr: list[tuple[int, int]], partition_epoch: int) -> dict:
        partition = {
            "partition_index": 0,
            "leader_epoch": 0,
            "new_isr_with_epochs": [{"broker_id": b, "broker_epoch": e} for b, e in isr],
            "leader_recovery_state": 0,
            "partition_epoch": partition_epoch,
        }
        return {
            "broker_id": 0,
            "broker_epoch": epochs[0],
            "topics": [{"topic_id": topic_id, "partitions": [partition]}],
        }

    shrunk = await call(ctx, 56, 3, change([(0, epochs[0])], 0))
    (result,) = shrunk.topics[0].partitions
    assert shrunk.topics[0].topic_id == topic_id
    assert (result.error_code, result.isr, result.partition_epoch) == (ErrorCode.none, (0,), 1)
    stale = await call(ctx, 56, 3, change([(0, epochs[0]), (1, epochs[1] - 1)], 1))
    assert stale.topics[0].partitions[0].error_code == ErrorCode.ineligible_replica
    expanded = await call(ctx, 56, 3, change([(0, epochs[0]), (1, epochs[1])], 1))
    assert expanded.topics[0].partitions[0].isr == (0, 1)
    old_sender = change([(0, epochs[0])], 2) | {"broker_epoch": epochs[0] - 1}
    assert (await call(ctx, 56, 3, old_sender)).error_code == ErrorCode.stale_broker_epoch


@run
async def test_alter_partition_v2_without_broker_epochs() -> None:
    ctx = context()
    epochs = [await join(ctx, b) for b in range(2)]
    assignments = [{"partition_index": 0, "broker_ids": [0, 1]}]
    topic = new_topic("a", -1, -1, assignments=assignments)
    await call(ctx, 19, 7, {"topics": [topic], "timeout": 1000, "validate_only": False})
    topic_id = ctx.controller.image.topics["a"].topic_id
    partition = {"partition_index": 0, "leader_epoch": 0, "new_isr": [0], "partition_epoch": 0}
    body = {
        "broker_id": 0,
        "broker_epoch": epochs[0],
        "topics": [{"topic_id": topic_id, "partitions": [partition]}],
    }
    answer = await call(ctx, 56, 2, body)
    assert answer.topics[0].partitions[0].isr == (0,)
    assert ctx.controller.image.partition("a", 0).isr == (0,)


@run
async def test_allocate_producer_ids_hands_out_blocks_that_never_overlap() -> None:
    ctx = context()
    epochs = [await join(ctx, b) for b in range(2)]
    first = await call(ctx, 67, 0, {"broker_id": 0, "broker_epoch": epochs[0]})
    second = await call(ctx, 67, 0, {"broker_id": 1, "broker_epoch": epochs[1]})
    assert first.error_code == second.error_code == ErrorCode.none
    assert second.producer_id_start == first.producer_id_start + first.producer_id_len
    stale = await call(ctx, 67, 0, {"broker_id": 1, "broker_epoch": 0})
    assert stale.error_code == ErrorCode.stale_broker_epoch


@run
async def test_elect_leaders_unclean_brings_an_offline_partition_back_and_preferred_is_not_needed():
    ctx = context()
    epochs = [await join(ctx, b) for b in range(2)]
    assignments = [{"partition_index": 0, "broker_ids": [0, 1]}]
    topic = new_topic("a", -1, -1, assignments=assignments)
    await call(ctx, 19, 7, {"topics": [topic], "timeout": 1000, "validate_only": False})
    controller = ctx.controller
    # 1 drops out of the ISR, then 0 goes away: no ISR member is left to lead.
    topic_id = controller.image.topics["a"].topic_id
    partition = {"partition_index": 0, "leader_epoch": 0, "new_isr": [0], "partition_epoch": 0}
    body = {
        "broker_id": 0,
        "broker_epoch": epochs[0],
        "topics": [{"topic_id": topic_id, "partitions": [partition]}],
    }
    await call(ctx, 56, 2, body)
    ctx.clock.advance(2000)
    await heartbeat(ctx, 1, epochs[1], offset=controller.committed_offset)
    ctx.clock.advance(1001)  # 0's lease (broker.session.timeout.ms, 3000) has run out
    for _ in range(20):  # the fencing the timer started
        await asyncio.sleep(0)
    assert controller.image.brokers[0].fenced
    assert controller.image.partition("a", 0).leader == -1
    asked = [{"topic": "a", "partitions": [0]}]
    preferred = await call(ctx, 43, 2, {"election_type": 0, "topic_partitions": asked})
    assert error_codes(preferred) == [ErrorCode.none, ErrorCode.preferred_leader_not_available]
    unclean = await call(ctx, 43, 2, {"election_type": 1, "topic_partitions": asked})
    assert error_codes(unclean) == [ErrorCode.none, ErrorCode.none]
    assert controller.image.partition("a", 0).leader == 1
    again = await call(ctx, 43, 0, {"topic_partitions": asked, "timeout": 1000})
    assert error_codes(again) == [ErrorCode.preferred_leader_not_available]
    bad = await call(ctx, 43, 2, {"election_type": 5, "topic_partitions": asked})
    assert error_codes(bad) == [ErrorCode.invalid_request, ErrorCode.invalid_request]


@pytest.mark.parametrize(("version", "body"), [(0, {}), (1, {"endpoint_type": 1})])
def test_describe_cluster_asked_for_brokers_answers_unsupported_endpoint_type(version, body):
    """A controller describes the controllers (KIP-919); asked for brokers (v0 always asks
    for them) it answers UNSUPPORTED_ENDPOINT_TYPE, as Kafka's controllers do."""

    async def ask() -> Any:
        asked = {"include_cluster_authorized_operations": False, **body}
        return await call(context(), 60, version, asked)

    answer = asyncio.run(ask())
    assert answer.error_code is ErrorCode.unsupported_endpoint_type
    assert answer.brokers == ()
