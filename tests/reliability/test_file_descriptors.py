"""A partition holds one file descriptor per segment, its ``.log``, as Kafka does; indexes
are opened only while written. 3 fds per segment ran a broker with 2,000 topics x 3
partitions out of descriptors (18,159)."""

from __future__ import annotations

import os

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

TOPICS = 100
PARTITIONS = 3


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_partition_holds_one_descriptor(broker):
    before = open_fds(broker.proc.pid)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    names = [f"fd-{i}" for i in range(TOPICS)]
    for future in admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for name in names:
        for partition in range(PARTITIONS):
            for _ in range(10):  # 10 x 1 KB: index entries get written too
                producer.produce(name, b"x" * 1000, partition=partition)
    assert producer.flush(30) == 0
    per_partition = (open_fds(broker.proc.pid) - before) / (TOPICS * PARTITIONS)
    print(f"{per_partition:.2f} fds per partition")
    assert per_partition < 1.2
