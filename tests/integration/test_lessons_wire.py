"""The lessons that read the analytics group (3: its members and their partitions; 10: its
commits) ask over the project's wire client on a PLAINTEXT cluster, never by librdkafka
2.16.0's admin group calls: those crash their process now and then while brokers come and
go, and that process is the dashboard's. Where the wire client cannot ask (TLS, SASL: here
``speaks`` made to say so), the group is described by librdkafka in a child process and its
commits read by a consumer of the group: still no admin group call in this one."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from chirpstream.settings import ANALYTICS_GROUP, TWEETS_TOPIC
from consumers.crash import Crash, UncommittedRange
from dashboard.lessons import steps
from tests.integration.test_cli_groups_wire import forbid_admin_group_calls


@pytest.mark.parametrize("wire", [True, False], ids=["plaintext", "tls-or-sasl"])
def test_lessons_read_the_group_without_librdkafkas_admin_group_calls(broker, monkeypatch, wire):
    b = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": b})
    admin.create_topics([NewTopic(TWEETS_TOPIC, 2)])[TWEETS_TOPIC].result(15)
    member = Consumer({"bootstrap.servers": b, "group.id": ANALYTICS_GROUP, "client.id": "w0"})
    member.subscribe([TWEETS_TOPIC])
    deadline = time.monotonic() + 30
    while not member.assignment():
        assert time.monotonic() < deadline, "the member never got its partitions"
        member.poll(0.2)
    forbid_admin_group_calls(monkeypatch)
    if not wire:
        monkeypatch.setattr(steps, "speaks", lambda _config: False)
    room = steps.Classroom(b)
    try:
        assert steps._until(lambda: steps._settled(room, 2), "the group settled") == {"w0": [0, 1]}
        crash = Crash("w1", "w1", (UncommittedRange(TWEETS_TOPIC, 1, 0, 4),), 0)
        assert not steps._read_again(room, crash)
        member.commit(offsets=[TopicPartition(TWEETS_TOPIC, 1, 5)], asynchronous=False)
        assert steps._read_again(room, crash)
    finally:
        member.close()
