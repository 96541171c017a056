"""D2 and D4: a torn last batch, garbage after it, a deleted or garbled ``.index``.

The data directory comes from a real broker that a real client filled and that was then
SIGKILLed. Every possible cut of the last batch is recovered in-process by the storage layer
(the unit tests do the same on hand-made batches); a few cuts, the garbage tail and the
index damage go through a broker restart. Each time the log ends at the last whole batch,
the indexes answer reads by offset, and the next append gets the next offset: no gap, no
reuse.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from confluent_kafka import Producer

from broker.protocol.batch import scan_valid, validate_produced
from broker.storage import LogConfig, PartitionLog
from broker.storage.checkpoint import read_offsets
from tests.support.batches import make_batch
from tests.support.wire import WireClient
from tests.support.workload import create_topic, read_back, seeds

TOPIC_CONFIG = {"index.interval.bytes": "256"}  # several index entries in one segment
MESSAGES = 300


@pytest.fixture
def killed(broker_factory, tmp_path) -> tuple[Path, list[str]]:
    """A data directory whose ``d2-0`` holds MESSAGES values in batches of 20, written by
    confluent-kafka; the broker was SIGKILLed after the last ack. Returns (copy, values)."""
    broker = broker_factory(name="source")
    create_topic(broker.bootstrap, "d2", 1, **TOPIC_CONFIG)
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "acks": "all", "batch.num.messages": 20}
    )
    values = [f"m{i}" for i in range(MESSAGES)]
    for value in values:
        producer.produce("d2", value.encode(), partition=0)
    assert producer.flush(30) == 0
    broker.kill()
    pristine = tmp_path / "pristine"
    shutil.copytree(broker.data_dir, pristine)
    return pristine, values


def active_log(data_dir: Path) -> Path:
    return data_dir / "d2-0" / f"{0:020d}.log"


def restart_on_copy(broker_factory, pristine: Path, name: str, damage) -> tuple:
    """Copy the directory, damage it with ``damage(partition_dir)``, start a broker on it."""
    data_dir = pristine.parent / f"{name}-data"
    shutil.copytree(pristine, data_dir)
    damage(data_dir / "d2-0")
    return broker_factory(name=name), data_dir


def check_continues(broker, values: list[str], kept: int) -> None:
    """The log holds the first ``kept`` values at offsets 0..kept-1; an append gets ``kept``."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    offsets: list[int] = []
    producer.produce(
        "d2", b"next", partition=0, on_delivery=lambda e, m: offsets.append(m.offset())
    )
    assert producer.flush(30) == 0
    assert offsets == [kept]
    reads = read_back(broker.bootstrap, "d2", 1)
    assert [(r.offset, r.value) for r in reads] == list(enumerate([*values[:kept], "next"]))


def test_every_cut_of_the_last_batch_recovers_to_the_batch_before(killed, tmp_path):
    pristine, _ = killed
    data = active_log(pristine).read_bytes()
    last = list(scan_valid(data))[-1]
    recovery_point = read_offsets(pristine / "recovery-point-offset-checkpoint").get(("d2", 0), 0)
    config = LogConfig(index_interval_bytes=256)
    records = make_batch([b"next"])
    for cut in range(1, last.size + 1):
        directory = tmp_path / f"cut-{cut}" / "d2-0"
        shutil.copytree(pristine / "d2-0", directory)
        active_log(directory.parent).write_bytes(data[:-cut])
        log = PartitionLog.open(directory, config, recovery_point=recovery_point)
        assert log.log_end_offset == last.base_offset, cut
        assert active_log(directory.parent).stat().st_size == last.position, cut
        assert log.append(records, validate_produced(records), 0, 0) == last.base_offset, cut
        log.close()
        shutil.rmtree(directory.parent)


@pytest.mark.parametrize("seed", seeds(1))
def test_a_broker_restarted_on_a_torn_tail_continues_without_gap(broker_factory, killed, seed):
    pristine, values = killed
    data = active_log(pristine).read_bytes()
    batches = list(scan_valid(data))
    last = batches[-1]
    rng = random.Random(seed)
    for cut in sorted({1, rng.randint(2, last.size - 1), last.size}):
        print(f"seed={seed} cut {cut} of the last batch's {last.size} bytes")
        broker, _ = restart_on_copy(
            broker_factory,
            pristine,
            f"cut{cut}",
            lambda d, cut=cut: active_log(d.parent).write_bytes(data[:-cut]),
        )
        torn = last.size - cut
        assert f"kept {last.position} bytes up to offset {last.base_offset}, cut {torn} bytes" in (
            broker.read_log()
        )
        check_continues(broker, values, last.base_offset)
        broker.stop()


def test_garbage_after_the_last_batch_is_cut(broker_factory, killed):
    pristine, values = killed
    garbage = random.Random(7).randbytes(500)

    def append_garbage(partition_dir: Path) -> None:
        with active_log(partition_dir.parent).open("ab") as file:
            file.write(garbage)

    broker, _ = restart_on_copy(broker_factory, pristine, "garbage", append_garbage)
    assert f"up to offset {MESSAGES}, cut {len(garbage)} bytes" in broker.read_log()
    check_continues(broker, values, MESSAGES)


@pytest.mark.parametrize("damage", ["deleted", "garbled"])
def test_a_damaged_index_is_rebuilt_and_answers_reads_by_offset(broker_factory, killed, damage):
    pristine, values = killed
    index = active_log(pristine).with_suffix(".index").name
    entries = (pristine / "d2-0" / index).read_bytes()
    assert len(entries) >= 8 * 3, "the index should hold a few entries"

    def spoil(partition_dir: Path) -> None:
        if damage == "deleted":
            (partition_dir / index).unlink()
        else:
            (partition_dir / index).write_bytes(random.Random(3).randbytes(len(entries)))

    broker, data_dir = restart_on_copy(broker_factory, pristine, damage, spoil)
    assert (data_dir / "d2-0" / index).read_bytes() == entries
    batches = list(scan_valid(active_log(pristine).read_bytes()))
    with WireClient(broker.port) as wire:
        for batch in batches:
            for offset in (batch.base_offset, batch.last_offset):
                served = wire.fetch("d2", offset).records
                assert next(scan_valid(served)).base_offset == batch.base_offset, offset
    check_continues(broker, values, MESSAGES)
