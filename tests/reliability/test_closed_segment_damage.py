"""D3: one flipped byte inside a closed (non-active) segment.

The CRC-32C check on first read finds it: the damaged batch is never served, fetches of that
partition stop right before it, one ERROR line says where, and the other partition is served
in full. Nothing is deleted, so the segment can still be restored.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition

from broker.protocol.batch import crc_matches, scan_valid
from tests.support.disk import flip_byte, segments
from tests.support.wire import WireClient
from tests.support.workload import create_topic

MESSAGES = 400  # per partition, 10 to a batch: about 8 segments of 4 KiB each


def test_a_damaged_batch_in_a_closed_segment_is_never_served(broker_factory):
    broker = broker_factory()
    create_topic(broker.bootstrap, "d3", 2, **{"segment.bytes": "4096"})
    sent = {p: [f"v{p}-{i}".encode() for i in range(MESSAGES)] for p in (0, 1)}
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "acks": "all", "batch.num.messages": 10}
    )
    for partition, values in sent.items():
        for value in values:
            producer.produce("d3", value, partition=partition)
            producer.poll(0)
    assert producer.flush(30) == 0
    broker.term()

    closed = segments(broker.data_dir / "d3-0")[1]
    data = closed.read_bytes()
    damaged = list(scan_valid(data))[2]  # the third batch of the second segment
    flip_byte(closed, damaged.position + damaged.size - 5)  # inside its records
    broker.start()

    with WireClient(broker.port) as wire:
        answer = wire.fetch("d3", damaged.base_offset, partition=0)
        assert answer.error_code == 0
        assert not answer.records, "the damaged batch was served"
        before = wire.fetch("d3", damaged.base_offset - 1, partition=0).records
        served = list(scan_valid(before, verify_crc=False))
        assert served, "the batches before the damage are served"
        assert all(crc_matches(before, header) for header in served)
        assert served[-1].last_offset == damaged.base_offset - 1
        assert wire.fetch("d3", damaged.last_offset + 1, partition=0).records, (
            "batches after the damaged one are served to a reader past it"
        )

    # A real client, checking CRCs, reads partition 0 up to the damage, all of partition 1.
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "d3", "check.crcs": True}
    )
    consumer.assign([TopicPartition("d3", p, 0) for p in (0, 1)])
    wanted = {0: damaged.base_offset, 1: MESSAGES}
    read: dict[int, list[bytes]] = {0: [], 1: []}
    try:
        while any(len(read[p]) < wanted[p] for p in (0, 1)):
            msg = consumer.poll(10)
            assert msg is not None, f"stalled after {[len(v) for v in read.values()]}"
            assert msg.error() is None, msg.error()
            assert msg.offset() < wanted[msg.partition()], "read past the damaged batch"
            read[msg.partition()].append(msg.value())
    finally:
        consumer.close()
    assert read == {0: sent[0][: damaged.base_offset], 1: sent[1]}

    reports = [line for line in broker.read_log().splitlines() if "fails its CRC-32C" in line]
    assert len(reports) == 1, reports
    assert f"d3-0: the batch at position {damaged.position} of {closed.name}" in reports[0]
    assert closed.read_bytes() != data and len(closed.read_bytes()) == len(data)
