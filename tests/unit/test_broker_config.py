"""Broker settings: Kafka's names from a properties file and --config, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import BrokerConfig, ConfigError, parse_assignment, read_properties


def test_properties_file_and_log_defaults(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text(
        "# a comment\n! another\nlisteners=PLAINTEXT://0.0.0.0:9093\nnum.partitions = 6\n"
        "log.retention.hours=2\nlog.segment.bytes=1048576\nauto.create.topics.enable=false\n"
        "log.dirs=/tmp/k\n"
    )
    config = BrokerConfig.from_properties(read_properties(path))
    assert (config.host, config.port, config.advertised) == ("0.0.0.0", 9093, "127.0.0.1")
    assert config.num_partitions == 6
    assert config.auto_create_topics is False
    assert config.data_dir == Path("/tmp/k")
    assert config.log_defaults.retention_ms == 2 * 3_600_000
    assert config.log_defaults.segment_bytes == 1_048_576
    described = config.describe()
    assert described["log.retention.ms"] == str(2 * 3_600_000)
    assert described["auto.create.topics.enable"] == "false"


@pytest.mark.parametrize(
    ("props", "names"),
    [
        ({"no.such": "1"}, "no.such"),
        ({"num.partitions": "six"}, "num.partitions"),
        ({"auto.create.topics.enable": "yes"}, "auto.create.topics.enable"),
        ({"listeners": "SSL://h:1"}, "listeners"),
        ({"log.retention.bytes": "-5"}, "retention.bytes"),
    ],
)
def test_bad_settings_name_themselves(props, names):
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        BrokerConfig.from_properties(props)


def test_assignment_and_unreadable_file(tmp_path):
    assert parse_assignment("a.b = c=d") == ("a.b", "c=d")
    with pytest.raises(ConfigError):
        parse_assignment("novalue")
    with pytest.raises(ConfigError, match="cannot read"):
        read_properties(tmp_path / "missing.properties")
    bad = tmp_path / "bad.properties"
    bad.write_text("just words\n")
    with pytest.raises(ConfigError, match=r"bad\.properties:1"):
        read_properties(bad)
