"""A restart, clean or after SIGKILL, keeps every offset, high watermark and log-start offset."""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from tests.support.confluent import consume_assigned, produce, watermarks
from tests.support.messages import assert_read_back_exactly, keyed_messages


@pytest.mark.parametrize("clean", [True, False], ids=["sigterm", "sigkill"])
def test_restart_keeps_offsets_watermarks_and_log_start(broker_factory, clean):
    broker = broker_factory(config={"log.retention.check.interval.ms": "200"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    # Small segments so retention by bytes deletes whole old segments.
    admin.create_topics(
        [NewTopic("kept", 2, 1, config={"segment.bytes": "20000", "retention.bytes": "60000"})]
    )["kept"].result(10)
    delivered = produce(
        broker.bootstrap, "kept", keyed_messages(3000), **{"batch.num.messages": 50}
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        before = watermarks(broker.bootstrap, "kept", 2)
        if all(low > 0 for low, _ in before):
            break
        time.sleep(0.2)
    assert all(low > 0 for low, _ in before), f"retention never advanced log-start: {before}"

    broker.restart(clean=clean)

    after = watermarks(broker.bootstrap, "kept", 2)
    assert after == before
    kept = [m for m in delivered if m.offset >= before[m.partition][0]]
    consumed = consume_assigned(broker.bootstrap, "kept", 2, len(kept))
    assert_read_back_exactly(kept, consumed)

    # Appends continue at the old high watermark, with no gap and no reuse.
    more = produce(broker.bootstrap, "kept", keyed_messages(10))
    for message in more:
        assert message.offset >= before[message.partition][1]
    assert watermarks(broker.bootstrap, "kept", 2) == [
        (low, high + sum(1 for m in more if m.partition == p))
        for p, (low, high) in enumerate(before)
    ]


def test_topic_configs_survive_restart_and_are_described(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("conf", 1, 1, config={"retention.ms": "123456"})])["conf"].result(
        10
    )
    broker.restart(clean=False)
    resource = ConfigResource("topic", "conf")
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "123456"
    assert configs["retention.ms"].source == 1  # DYNAMIC_TOPIC_CONFIG
    assert configs["segment.bytes"].value == str(1 << 30)
    assert configs["segment.bytes"].is_default
