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
        "compression.gzip.level": "-1",
        "compression.lz4.level": "9",
        "compression.type": "producer",
        "compression.zstd.level": "3",
        "delete.retention.ms": "86400000",
        "file.delete.delay.ms": "60000",
        "flush.messages": "9223372036854775807",
        "flush.ms": "1000",
        "follower.replication.throttled.replicas": "",
        "index.interval.bytes": "4096",
        "leader.replication.throttled.replicas": "",
        "local.retention.bytes": "-2",
        "local.retention.ms": "-2",
        "max.compaction.lag.ms": "9223372036854775807",
        "max.message.bytes": "1048588",
        "message.downconversion.enable": "true",
        "message.format.version": "3.0-IV1",
        "message.timestamp.after.max.ms": "9223372036854775807",
        "message.timestamp.before.max.ms": "9223372036854775807",
        "message.timestamp.difference.max.ms": "9223372036854775807",
        "message.timestamp.type": "CreateTime",
        "min.cleanable.dirty.ratio": "0.5",
        "min.compaction.lag.ms": "0",
        "min.insync.replicas": "1",
        "preallocate": "false",
        "remote.log.copy.disable": "false",
        "remote.log.delete.on.disable": "false",
        "remote.storage.enable": "false",
        "retention.bytes": "-1",
        "retention.ms": "604800000",
        "segment.bytes": "1073741824",
        "segment.index.bytes": "10485760",
        "segment.jitter.ms": "0",
        "segment.ms": "604800000",
        "unclean.leader.election.enable": "false",
    }


def test_every_kafka_topic_config_is_accepted_with_its_type():
    config = LogConfig.from_properties(
        {
            "compression.type": "zstd",
            "compression.zstd.level": "-5",
            "min.cleanable.dirty.ratio": "0.25",
            "preallocate": "TRUE",
            "leader.replication.throttled.replicas": "0:0,1:0",
            "message.format.version": "2.8",
            "remote.storage.enable": "false",
        }
    )
    assert (config.compression_type, config.compression_zstd_level) == ("zstd", -5)
    assert config.min_cleanable_dirty_ratio == 0.25
    assert config.preallocate is True
    assert config.to_properties()["preallocate"] == "true"
    assert config.leader_replication_throttled_replicas == "0:0,1:0"
    assert LogConfig.from_properties(config.to_properties()) == config


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
        ({"compression.type": "brotli"}, "compression.type must be one of uncompressed, zstd"),
        ({"compression.gzip.level": "0"}, "must be an integer from 1 to 9 or -1, got 0"),
        ({"min.cleanable.dirty.ratio": "1.5"}, "must be a number from 0 to 1, got 1.5"),
        ({"min.cleanable.dirty.ratio": "nan"}, "must be a number from 0 to 1"),
        ({"preallocate": "yes"}, "preallocate must be true or false, got 'yes'"),
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
