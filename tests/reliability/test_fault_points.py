"""D5: the broker SIGKILLs itself at a named fault point (``CHIRPSTREAM_FAULTS``) under
load: halfway through an append, right after a roll created the new segment, or with a state
file's ``.tmp`` written but not renamed. The restart succeeds and no acked value is lost."""

from __future__ import annotations

import random
import re
import signal

import pytest

from broker.storage.faults import ENV, POINTS, parse
from tests.support.history import History
from tests.support.workload import ProducerPool, create_topic, read_back, seeds

PARTITIONS = 2
# Which pass of each point fires, at random within this range.
PASSES = {"append": (50, 1500), "roll": (1, 6), "checkpoint": (20, 80)}
TORN_TAIL = re.compile(r"recovered \S+ \(.*\): kept \d+ bytes up to offset \d+, cut [1-9]")


def left_behind(point: str, data_dir) -> bool:
    """The state the fault point promises to leave on disk."""
    if point == "append":
        return True  # shown by the restart's recovery line instead
    if point == "roll":
        return any(
            log.stat().st_size == 0 and len(list(log.parent.glob("*.log"))) > 1
            for log in data_dir.glob("d5-*/*.log")
        )
    return any(data_dir.rglob("*.tmp"))


@pytest.mark.parametrize("seed", seeds(1))
@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_a_fault_point_loses_no_acked_value(broker_factory, monkeypatch, point, seed):
    rng = random.Random(f"{point}/{seed}")
    fires_on = rng.randint(*PASSES[point])
    print(f"seed={seed} {ENV}={point}@{fires_on}")
    config = {"log.flush.offset.checkpoint.interval.ms": "100", "offsets.topic.num.partitions": "1"}
    broker = broker_factory(config=config)
    create_topic(broker.bootstrap, "d5", PARTITIONS, **{"segment.bytes": "16384"})
    broker.term()
    monkeypatch.setenv(ENV, f"{point}@{fires_on}")
    broker.start()
    history = History()
    pool = ProducerPool(broker.bootstrap, "d5", history).start()

    assert broker.wait(60) == -signal.SIGKILL
    assert f"FAULT {point}: killing the broker" in broker.read_log()
    assert left_behind(point, broker.data_dir)
    acked_before_crash = pool.acked()
    monkeypatch.delenv(ENV)
    broker.start()
    if point == "append":
        assert TORN_TAIL.search(broker.read_log()), "the torn append was not cut at restart"
    pool.wait_for_acks(acked_before_crash + 300)
    pool.stop()

    report = history.check(read_back(broker.bootstrap, "d5", PARTITIONS))
    print(
        f"seed={seed} point={point}@{fires_on} acked before the crash={acked_before_crash} "
        f"{report.summary()}"
    )
    assert report.valid, f"seed={seed} point={point}@{fires_on}\n{report.details()}"
    assert pool.fatal_errors == []


def test_the_fault_list_is_parsed_strictly():
    assert parse("") == ({}, False)
    assert parse("roll, append@3,fsync-marks") == ({"roll": 1, "append": 3}, True)
    for wrong in ("rol", "roll@0", "roll@x", "fsync-marks@2"):
        with pytest.raises(ValueError, match="unknown fault"):
            parse(wrong)
