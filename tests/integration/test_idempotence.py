"""Idempotent producers: a retried batch is answered with its original offset, never written
twice; gaps and stale epochs get Kafka's errors. Driven over the raw wire for determinism."""

from __future__ import annotations

from tests.support.batches import make_batch
from tests.support.wire import WireClient

INIT_PRODUCER_ID = 22
OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 45, 47


def _producer(client: WireClient, producer_id: int = -1, epoch: int = -1) -> tuple[int, int]:
    answer = client.request(
        INIT_PRODUCER_ID,
        4,
        {
            "transactional_id": None,
            "transaction_timeout": 60_000,
            "producer_id": producer_id,
            "producer_epoch": epoch,
        },
    )
    assert answer.error_code == 0
    return answer.producer_id, answer.producer_epoch


def test_retried_batches_keep_their_offsets(broker):
    with WireClient(broker.port) as client:
        client.metadata("idem")
        pid, epoch = _producer(client)
        first = make_batch([b"a", b"b"], producer_id=pid, producer_epoch=epoch, base_sequence=0)
        second = make_batch([b"c"], producer_id=pid, producer_epoch=epoch, base_sequence=2)
        stored = client.produce("idem", first)
        assert (stored.error_code, stored.base_offset) == (0, 0)
        assert client.produce("idem", second).base_offset == 2
        retried = client.produce("idem", first)
        assert (retried.error_code, retried.base_offset) == (0, 0)
        assert client.latest_offset("idem") == 3

        gap = make_batch([b"d"], producer_id=pid, producer_epoch=epoch, base_sequence=9)
        assert client.produce("idem", gap).error_code == OUT_OF_ORDER_SEQUENCE_NUMBER

        # A bumped epoch fences the old one.
        bumped_pid, bumped = _producer(client, pid, epoch)
        assert (bumped_pid, bumped) == (pid, epoch + 1)
        fresh = make_batch([b"e"], producer_id=pid, producer_epoch=bumped, base_sequence=0)
        assert client.produce("idem", fresh).base_offset == 3
        stale = make_batch([b"f"], producer_id=pid, producer_epoch=epoch, base_sequence=3)
        assert client.produce("idem", stale).error_code == INVALID_PRODUCER_EPOCH
        assert client.latest_offset("idem") == 4


def test_producer_state_survives_a_kill(broker):
    with WireClient(broker.port) as client:
        client.metadata("idem")
        pid, epoch = _producer(client)
        batch = make_batch([b"a"], producer_id=pid, producer_epoch=epoch, base_sequence=0)
        assert client.produce("idem", batch).base_offset == 0
    broker.restart(clean=False)
    with WireClient(broker.port) as client:
        retried = client.produce("idem", batch)
        assert (retried.error_code, retried.base_offset) == (0, 0)
        assert client.latest_offset("idem") == 1
        new_pid, _ = _producer(client)
        assert new_pid != pid, "producer ids must stay unique across restarts"


def test_offset_for_leader_epoch_answers_the_epoch_end(broker):
    with WireClient(broker.port) as client:
        client.metadata("idem")
        client.produce("idem", make_batch([b"a", b"b", b"c"]))

        def end_of(topic: str, epoch: int, current: int = -1):
            answer = client.request(
                23,
                4,
                {
                    "replica_id": -1,
                    "topics": [
                        {
                            "topic": topic,
                            "partitions": [
                                {
                                    "partition": 0,
                                    "current_leader_epoch": current,
                                    "leader_epoch": epoch,
                                }
                            ],
                        }
                    ],
                },
            )
            return answer.topics[0].partitions[0]

        found = end_of("idem", 0)
        assert (found.error_code, found.leader_epoch, found.end_offset) == (0, 0, 3)
        assert end_of("idem", 0, current=5).error_code == 75  # UNKNOWN_LEADER_EPOCH
        assert end_of("missing", 0).error_code == 3  # UNKNOWN_TOPIC_OR_PARTITION
