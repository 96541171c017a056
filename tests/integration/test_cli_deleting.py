"""``chirpstream delete-records`` and ``chirpstream groups --delete-offsets`` as students run
them: subprocesses against a real broker, printing what kafka-delete-records.sh and
kafka-consumer-groups.sh print; bad input is one ``error:`` line."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from chirpstream.tools.common import CliError
from chirpstream.tools.delete_records import read_offset_json_file
from tests.integration.test_cli_verbs import one_error_line, run
from tests.support.confluent import produce, watermarks
from tests.support.messages import keyed_messages


def offsets_file(tmp_path, name: str, content: object) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_delete_records_prints_each_partitions_low_watermark(broker, tmp_path):
    run("topics", broker.bootstrap, "--create", "--topic", "t", "--partitions", "2")
    produce(broker.bootstrap, "t", keyed_messages(40))
    ends = [high for _, high in watermarks(broker.bootstrap, "t", 2)]
    wanted = {
        "partitions": [
            {"topic": "t", "partition": 0, "offset": 3},
            {"topic": "t", "partition": 1, "offset": -1},
        ],
        "version": 1,
    }
    path = offsets_file(tmp_path, "ok", wanted)
    done = run("delete-records", broker.bootstrap, "--offset-json-file", path)
    assert done.stdout.splitlines() == [
        "Executing records delete operation",
        "Records delete operation completed:",
        "partition: t-0\tlow_watermark: 3",
        f"partition: t-1\tlow_watermark: {ends[1]}",
    ]
    assert watermarks(broker.bootstrap, "t", 2) == [(3, ends[0]), (ends[1], ends[1])]

    past_end = {"partitions": [{"topic": "t", "partition": 0, "offset": ends[0] + 1}]}
    path = offsets_file(tmp_path, "past", past_end)
    failed = run("delete-records", broker.bootstrap, "--offset-json-file", path, ok=False)
    assert "partition: t-0\terror: Broker: Offset out of range" in failed.stdout
    assert one_error_line(failed) == "error: the records of 1 partition(s) could not be deleted"


def test_delete_records_refuses_bad_files_in_one_line(broker, tmp_path):
    path = offsets_file(tmp_path, "bad", "not json")
    done = run("delete-records", broker.bootstrap, "--offset-json-file", path, ok=False)
    assert one_error_line(done) == f"error: {path}: the input string is not a valid JSON"
    missing = run("delete-records", broker.bootstrap, ok=False)
    assert one_error_line(missing) == "error: Missing required option(s): --offset-json-file"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"partitions": [], "version": 2}, "not supported version field value 2"),
        ({"version": 1}, "missing partitions field"),
        ({"partitions": []}, "no partitions to delete records from"),
        ({"partitions": [{"topic": "t"}]}, 'needs a "topic", a "partition" number'),
        ({"partitions": [{"topic": "t", "partition": "0", "offset": 1}]}, "a \"partition\" number"),
        ({"partitions": [{"topic": "t", "partition": -1, "offset": 1}]}, "cannot be negative"),
        ({"partitions": [{"topic": "t", "partition": 0, "offset": 1}] * 2}, "duplicate topic"),
    ],
)  # fmt: skip
def test_the_offset_json_file_is_read_as_kafkas_tool_reads_it(tmp_path, content, reason):
    path = offsets_file(tmp_path, "offsets.json", content)
    with pytest.raises(CliError, match=re.escape(reason)):
        read_offset_json_file(Path(path))


def test_an_offset_json_file_without_version_is_version_1(tmp_path):
    content = {"partitions": [{"topic": "t", "partition": 2, "offset": -1}]}
    (wanted,) = read_offset_json_file(Path(offsets_file(tmp_path, "offsets.json", content)))
    assert (wanted.topic, wanted.partition, wanted.offset) == ("t", 2, -1)


def test_groups_delete_offsets(broker):
    run("topics", broker.bootstrap, "--create", "--topic", "t", "--partitions", "2")
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g"})
    offsets = [TopicPartition("t", 0, 1), TopicPartition("t", 1, 2)]
    consumer.commit(offsets=offsets, asynchronous=False)
    consumer.close()

    done = run("groups", broker.bootstrap, "--delete-offsets", "--group", "g", "--topic", "t:1")
    lines = [" ".join(line.split()) for line in done.stdout.splitlines() if line.strip()]
    assert lines == [
        "Request succeed for deleting offsets with topic t:1 group g",
        "TOPIC PARTITION STATUS",
        "t 1 Successful",
    ]
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g"})
    kept = consumer.committed([TopicPartition("t", 0), TopicPartition("t", 1)], timeout=10)
    consumer.close()
    assert [tp.offset for tp in kept] == [1, -1001]

    unknown = run(
        "groups", broker.bootstrap, "--delete-offsets", "--group", "g", "--topic", "nosuch",
        ok=False,
    )  # fmt: skip
    assert "nosuch -1        Error: Broker: Unknown topic or partition" in unknown.stdout
    one_error_line(unknown)
    absent = run(
        "groups", broker.bootstrap, "--delete-offsets", "--group", "none", "--topic", "t",
        ok=False,
    )  # fmt: skip
    assert one_error_line(absent) == "error: 'none' does not exist."
    no_topic = run("groups", broker.bootstrap, "--delete-offsets", "--group", "g", ok=False)
    assert one_error_line(no_topic) == "error: --delete-offsets needs --topic"


def test_groups_delete_offsets_of_a_topic_the_group_consumes(broker):
    run("topics", broker.bootstrap, "--create", "--topic", "t", "--partitions", "1")
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "busy", "session.timeout.ms": 6000}
    )
    consumer.subscribe(["t"])
    try:
        deadline = time.monotonic() + 20
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the consumer was never assigned a partition"
            consumer.poll(0.2)
        consumer.commit(offsets=[TopicPartition("t", 0, 0)], asynchronous=False)
        done = run(
            "groups", broker.bootstrap, "--delete-offsets", "--group", "busy", "--topic", "t",
            ok=False,
        )  # fmt: skip
    finally:
        consumer.close()
    rows = [" ".join(line.split()) for line in done.stdout.splitlines() if line.strip()]
    assert rows == [
        "TOPIC PARTITION STATUS",
        "t 0 Error: Broker: Deleting offsets of a topic while the consumer group is subscribed "
        "to it",
    ]
    assert one_error_line(done) == (
        "error: Encounter some partition level error, see the follow-up details above."
    )
