"""Idempotent producers: a retried batch is answered with its original offset, never written
twice; gaps and stale epochs get Kafka's errors. Driven over the raw wire for determinism."""

from __future__ import annotations

from tests.support.batches import make_batch
from tests.support.wire import WireClient

PRODUCE, INIT_PRODUCER_ID, LIST_OFFSETS = 0, 22, 2
OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 45, 47


def _produce(client: WireClient, batch: bytes):
    answer = client.request(
        PRODUCE,
        9,
        {
            "transactional_id": None,
            "acks": -1,
            "timeout": 5000,
            "topic_data": [{"name": "idem", "partition_data": [{"index": 0, "records": batch}]}],
        },
    )
    return answer.responses[0].partition_responses[0]


def _high_watermark(client: WireClient) -> int:
    answer = client.request(
        LIST_OFFSETS,
        7,
        {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [
                {
                    "name": "idem",
                    "partitions": [
                        {"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}
                    ],
                }
            ],
        },
    )
    return answer.topics[0].partitions[0].offset


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
        client.request(
            3,
            12,
            {
                "topics": [{"name": "idem", "topic_id": None}],
                "include_topic_authorized_operations": False,
            },
        )
        pid, epoch = _producer(client)
        first = make_batch([b"a", b"b"], producer_id=pid, producer_epoch=epoch, base_sequence=0)
        second = make_batch([b"c"], producer_id=pid, producer_epoch=epoch, base_sequence=2)
        assert (_produce(client, first).error_code, _produce(client, first).base_offset) == (0, 0)
        assert _produce(client, second).base_offset == 2
        retried = _produce(client, first)
        assert (retried.error_code, retried.base_offset) == (0, 0)
        assert _high_watermark(client) == 3

        gap = make_batch([b"d"], producer_id=pid, producer_epoch=epoch, base_sequence=9)
        assert _produce(client, gap).error_code == OUT_OF_ORDER_SEQUENCE_NUMBER

        # A bumped epoch fences the old one.
        bumped_pid, bumped = _producer(client, pid, epoch)
        assert (bumped_pid, bumped) == (pid, epoch + 1)
        fresh = make_batch([b"e"], producer_id=pid, producer_epoch=bumped, base_sequence=0)
        assert _produce(client, fresh).base_offset == 3
        stale = make_batch([b"f"], producer_id=pid, producer_epoch=epoch, base_sequence=3)
        assert _produce(client, stale).error_code == INVALID_PRODUCER_EPOCH
        assert _high_watermark(client) == 4


def test_producer_state_survives_a_kill(broker):
    with WireClient(broker.port) as client:
        client.request(
            3,
            12,
            {
                "topics": [{"name": "idem", "topic_id": None}],
                "include_topic_authorized_operations": False,
            },
        )
        pid, epoch = _producer(client)
        batch = make_batch([b"a"], producer_id=pid, producer_epoch=epoch, base_sequence=0)
        assert _produce(client, batch).base_offset == 0
    broker.restart(clean=False)
    with WireClient(broker.port) as client:
        retried = _produce(client, batch)
        assert (retried.error_code, retried.base_offset) == (0, 0)
        assert _high_watermark(client) == 1
        new_pid, _ = _producer(client)
        assert new_pid != pid, "producer ids must stay unique across restarts"
