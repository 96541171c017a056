"""D1: SIGKILL the broker at a seeded random moment under 4 acks=all producers; after a
restart on the same data directory every acked value is read exactly once, at its acked
offset, and the offsets are dense."""

from __future__ import annotations

import random
import time

import pytest

from tests.support.history import History
from tests.support.workload import ProducerPool, create_topic, read_back, seeds

PARTITIONS = 3


@pytest.mark.parametrize("seed", seeds(1))
def test_sigkill_during_produce_loses_no_acked_value(broker_factory, seed):
    print(f"seed={seed}")
    rng = random.Random(seed)
    broker = broker_factory()
    # Small segments, so that the kill may also land near a roll.
    create_topic(broker.bootstrap, "d1", PARTITIONS, **{"segment.bytes": "65536"})
    history = History()
    pool = ProducerPool(broker.bootstrap, "d1", history).start()
    pool.wait_for_acks(rng.randint(200, 3000))
    time.sleep(rng.uniform(0, 0.5))
    broker.kill()
    acked_before_kill = pool.acked()
    broker.start()
    pool.wait_for_acks(acked_before_kill + rng.randint(100, 1000))
    pool.stop()

    report = history.check(read_back(broker.bootstrap, "d1", PARTITIONS))
    print(f"seed={seed} acked before the kill={acked_before_kill} {report.summary()}")
    assert report.valid, f"seed={seed}\n{report.details()}"
    assert pool.fatal_errors == []
    assert report.acked > acked_before_kill > 0
