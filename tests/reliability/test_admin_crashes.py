"""D6: SIGKILL in the middle of creating or deleting a topic (``CHIRPSTREAM_FAULTS``
``create-topic@N`` / ``delete-topic@N``). The metadata image is the truth: after the restart
the half-made or half-removed directories are gone, the name can be created again and works,
and a first start killed while making ``__consumer_offsets`` starts the second time."""

from __future__ import annotations

import json
import signal

from confluent_kafka.admin import AdminClient, NewTopic

from broker.storage.faults import ENV
from tests.support.broker_process import BrokerProcess
from tests.support.confluent import consume_assigned, produce
from tests.support.workload import create_topic

SMALL_OFFSETS = {"offsets.topic.num.partitions": "1"}


def partition_dirs(broker: BrokerProcess, topic: str) -> list[str]:
    """Every directory of ``topic``: live, being deleted or moved aside."""
    return sorted(
        d.name
        for d in broker.data_dir.glob(f"{topic}-*")
        if d.is_dir() and d.name[len(topic) + 1 :][:1].isdigit()
    )


def request_and_die(broker: BrokerProcess, request) -> None:
    """Send an admin request the broker is armed to die in, and wait for the SIGKILL."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    request(admin)
    assert broker.wait(60) == -signal.SIGKILL
    assert "FAULT create-topic" in broker.read_log() or "FAULT delete-topic" in broker.read_log()


def works(broker: BrokerProcess, topic: str, partitions: int) -> None:
    delivered = produce(broker.bootstrap, topic, [(b"k%d" % i, b"v%d" % i) for i in range(30)])
    consumed = consume_assigned(broker.bootstrap, topic, partitions, 30)
    assert sorted(d.value for d in consumed) == sorted(d.value for d in delivered)


def test_a_crash_while_creating_a_topic_leaves_the_name_usable(broker_factory, monkeypatch):
    broker = broker_factory(config=SMALL_OFFSETS)
    broker.term()
    monkeypatch.setenv(ENV, "create-topic@40")
    broker.start()
    request_and_die(broker, lambda admin: admin.create_topics([NewTopic("half", 200, 1)]))
    assert len(partition_dirs(broker, "half")) >= 40  # the crash left some behind

    monkeypatch.delenv(ENV)
    broker.start()
    assert partition_dirs(broker, "half") == []
    create_topic(broker.bootstrap, "half", 200)
    assert len(partition_dirs(broker, "half")) == 200
    works(broker, "half", 200)


def test_a_first_start_killed_while_making_the_offsets_topic_starts_again(tmp_path, monkeypatch):
    broker = BrokerProcess(
        tmp_path / "data", tmp_path / "broker.log", config={"offsets.topic.num.partitions": "8"}
    )
    monkeypatch.setenv(ENV, "create-topic@3")
    try:
        broker.start()
    except RuntimeError as err:
        assert "exited with -9" in str(err)
    else:
        raise AssertionError("the armed fault did not fire")
    assert partition_dirs(broker, "__consumer_offsets")

    monkeypatch.delenv(ENV)
    try:
        broker.start()
        assert len(partition_dirs(broker, "__consumer_offsets")) == 8
        create_topic(broker.bootstrap, "after", 1)
        works(broker, "after", 1)
    finally:
        broker.stop()


def test_a_crash_while_deleting_a_topic_finishes_the_delete(broker_factory, monkeypatch):
    broker = broker_factory(config=SMALL_OFFSETS)
    create_topic(broker.bootstrap, "going", 20)
    produce(broker.bootstrap, "going", [(b"k%d" % i, b"old") for i in range(40)])
    broker.term()
    monkeypatch.setenv(ENV, "delete-topic@5")
    broker.start()
    request_and_die(broker, lambda admin: admin.delete_topics(["going"]))
    assert partition_dirs(broker, "going")  # the crash left some behind

    monkeypatch.delenv(ENV)
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert "going" not in admin.list_topics(timeout=10).topics
    assert partition_dirs(broker, "going") == []
    create_topic(broker.bootstrap, "going", 20)
    works(broker, "going", 20)  # 30 values read back: none of the 40 old ones


def test_a_directory_no_topic_claims_is_moved_aside_and_kept(broker_factory):
    broker = broker_factory(config=SMALL_OFFSETS)
    create_topic(broker.bootstrap, "orphan", 1)
    produce(broker.bootstrap, "orphan", [(None, b"keep me")])
    broker.term()
    image_path = broker.data_dir / "cluster-metadata.json"
    image = json.loads(image_path.read_text())
    del image["topics"]["orphan"]  # as if the record of the topic were lost
    image_path.write_text(json.dumps(image))

    broker.start()
    (aside,) = broker.data_dir.glob("orphan-0.*-stray")
    assert b"keep me" in b"".join(f.read_bytes() for f in aside.glob("*.log"))
    assert "orphan-0 belongs to no topic in the metadata; moved aside" in broker.read_log()
    create_topic(broker.bootstrap, "orphan", 1)
    works(broker, "orphan", 1)
