"""The flush scheduler (broker/log_duties.py): a log is fsynced once its flush.ms comes due,
and nothing wakes a node whose logs are all flushed."""

import uuid

from broker.clock import ManualClock
from broker.log_duties import FlushScheduler
from broker.storage import LogConfig, LogManager
from tests.unit.storage.record_batches import make_batch, produce

START = 10_000
INTERVAL = 200


def started(tmp_path, flush_ms: int = 1_000):
    clock = ManualClock(START)
    manager = LogManager(tmp_path)
    log = manager.create("tweets", 0, uuid.uuid4(), LogConfig(flush_ms=flush_ms))
    scheduler = FlushScheduler(manager, clock, INTERVAL)
    return clock, manager, log, scheduler


def test_a_written_log_is_flushed_when_its_flush_ms_comes_due(tmp_path):
    clock, manager, log, scheduler = started(tmp_path)
    clock.advance(1_000)
    produce(log, make_batch(3), now_ms=clock.now)
    clock.advance(999)
    assert log.recovery_point == 0
    clock.advance(1)
    assert log.recovery_point == 3
    produce(log, make_batch(2), now_ms=clock.now)  # dirty again: flushed again when due
    clock.advance(1_000)
    assert log.recovery_point == 5
    scheduler.stop()
    manager.close({})


def test_nothing_is_armed_while_every_log_is_flushed(tmp_path):
    clock, manager, log, scheduler = started(tmp_path)
    clock.advance(INTERVAL)  # the first pass finds nothing to flush
    assert clock.live_timers == 0
    produce(log, make_batch(1), now_ms=clock.now)
    assert clock.live_timers == 1
    clock.advance(1_000)
    assert log.recovery_point == 1
    assert clock.live_timers == 0
    scheduler.stop()
    manager.close({})


def test_passes_are_at_least_the_scheduler_interval_apart(tmp_path):
    clock, manager, log, scheduler = started(tmp_path, flush_ms=50)
    clock.advance(INTERVAL)  # the first pass
    produce(log, make_batch(1), now_ms=clock.now)  # due in 50 ms: the pass waits the interval
    clock.advance(INTERVAL - 1)
    assert log.recovery_point == 0
    clock.advance(1)
    assert log.recovery_point == 1
    scheduler.stop()
    manager.close({})


def test_a_shorter_flush_ms_brings_the_flush_forward(tmp_path):
    clock, manager, log, scheduler = started(tmp_path, flush_ms=3_600_000)
    produce(log, make_batch(1), now_ms=clock.now)
    clock.advance(1_000)
    assert log.recovery_point == 0
    log.update_config(LogConfig(flush_ms=500))
    clock.advance(1)
    assert log.recovery_point == 1
    scheduler.stop()
    manager.close({})


def test_a_stopped_scheduler_flushes_nothing_more(tmp_path):
    clock, manager, log, scheduler = started(tmp_path)
    scheduler.stop()
    produce(log, make_batch(1), now_ms=clock.now)
    clock.advance(10_000)
    assert log.recovery_point == 0
    assert clock.live_timers == 0
    manager.close({})
