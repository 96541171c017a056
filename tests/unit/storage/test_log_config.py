import re
from dataclasses import fields

import pytest

from broker.storage.config import SPECS_BY_NAME, TOPIC_CONFIGS, LogConfig


def test_fields_and_table_describe_the_same_settings():
    assert [f.name for f in fields(LogConfig)] == [spec.attribute for spec in TOPIC_CONFIGS]
    config = LogConfig()
    for spec in TOPIC_CONFIGS:
        assert getattr(config, spec.attribute) == spec.default
        assert isinstance(spec.default, spec.type)


def test_defaults_are_kafkas_except_flush_ms():
    assert LogConfig().to_properties() == {
        "cleanup.policy": "delete",
        "flush.messages": "9223372036854775807",
        "flush.ms": "1000",
        "index.interval.bytes": "4096",
        "max.message.bytes": "1048588",
        "message.timestamp.type": "CreateTime",
        "min.insync.replicas": "1",
        "retention.bytes": "-1",
        "retention.ms": "604800000",
        "segment.bytes": "1073741824",
        "segment.index.bytes": "10485760",
        "segment.ms": "604800000",
    }


def test_from_properties_overrides_the_base():
    base = LogConfig(retention_ms=5_000)
    config = LogConfig.from_properties({"segment.bytes": " 2048 ", "retention.bytes": "-1"}, base)
    assert config.segment_bytes == 2048
    assert config.retention_ms == 5_000
    assert LogConfig.from_properties(config.to_properties()) == config


def test_cleanup_policy_is_a_list():
    config = LogConfig.from_properties({"cleanup.policy": "compact, delete"})
    assert config.cleanup_policy == "compact,delete"
    assert config.deletes_old_segments
    assert not LogConfig(cleanup_policy="compact").deletes_old_segments


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"retention.mss": "1"}, "unknown topic config 'retention.mss'"),
        ({"segment.bytes": "big"}, "segment.bytes must be an integer from 14 to 2147483647"),
        ({"segment.bytes": "13"}, "segment.bytes must be an integer from 14"),
        ({"segment.bytes": str(2**31)}, "segment.bytes must be an integer"),
        ({"retention.ms": "-2"}, "retention.ms must be an integer from -1"),
        ({"flush.messages": "0"}, "flush.messages must be an integer from 1"),
        ({"message.timestamp.type": "Now"}, "must be one of CreateTime, LogAppendTime"),
        ({"cleanup.policy": "delete,shred"}, "cleanup.policy must be a comma-separated list"),
    ],
)
def test_bad_properties_raise_one_clear_line(props, message):
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        LogConfig.from_properties(props)
    assert "\n" not in str(caught.value)


def test_direct_construction_is_checked_too():
    with pytest.raises(ValueError, match=r"min\.insync\.replicas"):
        LogConfig(min_insync_replicas=0)
    with pytest.raises(ValueError, match=r"segment\.ms"):
        LogConfig(segment_ms="1")  # type: ignore[arg-type]


def test_describe_marks_defaults():
    entries = {entry.spec.name: entry for entry in LogConfig(retention_ms=-1).describe()}
    assert entries["retention.ms"].value == "-1"
    assert not entries["retention.ms"].is_default
    assert entries["segment.bytes"].is_default
    assert entries["segment.bytes"].spec.kafka_type == "INT"
    assert entries["retention.ms"].spec is SPECS_BY_NAME["retention.ms"]
    assert all(entry.spec.doc for entry in entries.values())
