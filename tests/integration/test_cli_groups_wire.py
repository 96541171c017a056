"""``chirpstream groups`` lists and describes groups and reads their committed offsets over the
project's wire client on a PLAINTEXT cluster: librdkafka 2.16.0's admin ListConsumerGroupOffsets
segfaults the process when a coordinator answers NOT_COORDINATOR, as one does while a broker
restarts (librdkafka issue 5040), and its DescribeConsumerGroups aborts now and then while
brokers come and go, so the command must not make those calls there."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from chirpstream import cli

COMMITTED = {0: 3, 1: 0, 2: 5}


def crashes(*_args, **_kwargs):
    raise AssertionError("an admin group call of librdkafka, which crashes while brokers restart")


def forbid_admin_group_calls(monkeypatch) -> None:
    for call in (
        "list_consumer_group_offsets",
        "describe_consumer_groups",
        "list_consumer_groups",
        "alter_consumer_group_offsets",
    ):
        monkeypatch.setattr(AdminClient, call, crashes)


def test_list_describe_and_reset_without_librdkafkas_admin_group_calls(broker, monkeypatch, capsys):
    b = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": b})
    admin.create_topics([NewTopic("stream", 3)])["stream"].result(15)
    committer = Consumer({"bootstrap.servers": b, "group.id": "readers"})
    committer.commit(
        offsets=[TopicPartition("stream", p, o) for p, o in COMMITTED.items()], asynchronous=False
    )
    committer.close()
    forbid_admin_group_calls(monkeypatch)

    assert cli.main(["groups", "--bootstrap-servers", b, "--list"]) == 0
    assert "readers" in capsys.readouterr().out.split()
    assert cli.main(["groups", "--bootstrap-servers", b, "--describe", "--group", "readers"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert {int(r[2]): int(r[3]) for r in rows} == COMMITTED

    shift = ["--reset-offsets", "--group", "readers", "--topic", "stream", "--shift-by", "-1"]
    assert cli.main(["groups", "--bootstrap-servers", b, *shift, "--execute"]) == 0
    plan = _rows(capsys.readouterr().out)
    # The plan starts from the committed offsets (clamped to the empty log's start, 0).
    assert {int(r[2]): int(r[3]) for r in plan} == dict.fromkeys(COMMITTED, 0)
    assert cli.main(["groups", "--bootstrap-servers", b, "--describe", "--group", "readers"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert {int(r[2]): int(r[3]) for r in rows} == dict.fromkeys(COMMITTED, 0)  # committed


def _rows(stdout: str) -> list[list[str]]:
    lines = [line.split() for line in stdout.splitlines() if line.strip()]
    start = next(i for i, cells in enumerate(lines) if cells[0] == "GROUP")
    return lines[start + 1 :]
