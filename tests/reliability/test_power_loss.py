"""D6: a power loss, emulated by a SIGKILL and then cutting every segment file back to the
size its last fsync recorded (``CHIRPSTREAM_FAULTS=fsync-marks``).

With ``flush.messages=1`` (fsync before every ack) no acked value is lost. With the default
policy (fsync once the oldest unflushed write is ``flush.ms`` old) only a suffix of each
partition is lost, those writes acked since its last fsync, as the README documents; what
survives is exactly the acked log up to there.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from pathlib import Path

import pytest

from broker.storage.faults import ENV, FSYNC_MARKS, MARK_SUFFIX
from tests.support.disk import power_cut
from tests.support.history import History
from tests.support.workload import ProducerPool, create_topic, read_back, seeds

PARTITIONS = 2


def fsynced_bytes(data_dir: Path, topic: str) -> dict[str, int]:
    marks = data_dir.glob(f"{topic}-*/*{MARK_SUFFIX}")
    return {mark.parent.name: json.loads(mark.read_text())[".log"] for mark in marks}


def run_and_cut(broker_factory, monkeypatch, seed: int, config: dict[str, str], lossy: bool):
    """Produce, wait until every partition saw an fsync, kill at a seeded moment, cut the files
    to their fsync marks, restart; returns the history, the report and the kill time."""
    rng = random.Random(seed)
    monkeypatch.setenv(ENV, FSYNC_MARKS)
    broker = broker_factory(config=config)
    create_topic(broker.bootstrap, "d6", PARTITIONS)
    history = History()
    pool = ProducerPool(broker.bootstrap, "d6", history).start()
    pool.wait_for_acks(rng.randint(500, 2000))
    deadline = time.monotonic() + 30
    while not all(fsynced_bytes(broker.data_dir, "d6").get(f"d6-{p}") for p in range(PARTITIONS)):
        assert time.monotonic() < deadline, "a partition was never fsynced"
        time.sleep(0.05)
    time.sleep(rng.uniform(0, 0.7))
    broker.kill()
    killed_at = time.monotonic()
    if lossy:
        # An idempotent producer whose acked writes were lost would fail fatally after the
        # restart: stop the producers while the broker is down, leaving the in-flight unknown.
        pool.stop(flush_timeout=1)
    cut = power_cut(broker.data_dir)
    broker.start()
    pool.stop()
    report = history.check(read_back(broker.bootstrap, "d6", PARTITIONS))
    print(f"seed={seed} bytes cut={sum(cut.values())} {report.summary()}")
    return pool, report, killed_at


@pytest.mark.parametrize("seed", seeds(1))
def test_with_an_fsync_per_write_a_power_loss_loses_no_acked_value(
    broker_factory, monkeypatch, seed
):
    config = {"log.flush.interval.messages": "1"}
    pool, report, _ = run_and_cut(broker_factory, monkeypatch, seed, config, lossy=False)
    assert report.valid, f"seed={seed}\n{report.details()}"
    assert pool.fatal_errors == []


@pytest.mark.parametrize("seed", seeds(1))
def test_with_the_default_policy_a_power_loss_loses_only_the_unflushed_suffix(
    broker_factory, monkeypatch, seed
):
    pool, report, killed_at = run_and_cut(broker_factory, monkeypatch, seed, {}, lossy=True)
    history = pool.history
    writes = {write.value: write for write in history.writes}
    lowest_lost: dict[int, int] = defaultdict(lambda: 2**63)
    for value in report.lost:
        position = writes[value].position
        lowest_lost[position.partition] = min(lowest_lost[position.partition], position.offset)
    for write in history.acked():
        if write.value not in report.lost:
            partition, offset = write.position
            assert offset < lowest_lost[partition], f"seed={seed}: {write.value} outlived a loss"
    assert all(reason.endswith("never read") for reason in report.lost.values())
    others = [name for name in report.ANOMALIES if name != "lost"]
    assert not any(getattr(report, name) for name in others), report.details()
    if report.lost:
        earliest = min(writes[value].completed_at for value in report.lost)
        print(
            f"seed={seed}: lost {len(report.lost)} acked values, the earliest acked "
            f"{killed_at - earliest:.2f} s before the kill (flush.ms=1000)"
        )
