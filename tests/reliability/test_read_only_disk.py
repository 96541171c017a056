"""A disk that turns read-only under a running broker (ext4 on a loop device, remounted
read-only by a filesystem error, as ``errors=remount-ro`` does): produce answers
KAFKA_STORAGE_ERROR on a live connection, the broker says so once, fetches go on, and a stop
says what is wrong instead of blaming the listener. Needs root to mount.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer

from tests.reliability.clients import broker_on, produce_one, read_values
from tests.support.disk import ext4_image, fail_read_only, require_root
from tests.support.workload import PRODUCER_CONFIG, create_topic

PROBLEM = "cannot append to ro-0: Read-only file system"


@pytest.fixture
def disk(tmp_path) -> Path:
    require_root("the read-only disk tests", "mkfs.ext4", "findmnt")
    with ext4_image(tmp_path / "disk.img", tmp_path / "disk", 32 << 20) as mount_point:
        yield mount_point


@pytest.fixture
def broker(disk, tmp_path, request):
    with broker_on(disk, tmp_path, request) as broker:
        yield broker


def test_a_disk_gone_read_only_answers_storage_errors_and_keeps_serving_reads(broker, disk):
    create_topic(broker.bootstrap, "ro", 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, **PRODUCER_CONFIG})
    for n in range(5):
        assert produce_one(producer, "ro", b"before-%d" % n)[0] is None
    fail_read_only(disk)

    plain = Producer(
        {"bootstrap.servers": broker.bootstrap, "acks": "all", "retries": 0, "linger.ms": 0}
    )
    errors = [produce_one(plain, "ro", b"refused-%d" % n)[0] for n in range(5)]
    assert [err.code() if err else None for err in errors] == [KafkaError.KAFKA_STORAGE_ERROR] * 5
    assert [value for _, value in read_values(broker.bootstrap, "ro")] == [
        b"before-%d" % n for n in range(5)
    ]
    broker_log = broker.read_log()
    assert broker_log.count(PROBLEM) == 1
    assert "Traceback" not in broker_log

    code = broker.term()
    last_line = broker.read_log().splitlines()[-1]
    assert "cannot listen" not in last_line
    assert "Read-only file system" in last_line
    assert code == 1
