"""The logs' background duties, the same on a single node and on a cluster node: the
retention, flush and checkpoint passes, and the log cleaner when ``log.cleaner.enable``."""

from __future__ import annotations

import logging

from broker.clock import Clock, Repeating, TimerHandle
from broker.config import BrokerConfig
from broker.replica.manager import ReplicaManager
from broker.storage.log_cleaner import LogCleaner
from broker.storage.manager import LogManager

log = logging.getLogger("broker.clock")  # where Repeating reports a failed duty


class LogDuties:
    """Started with the node's broker role, stopped before its logs close. A duty whose
    interval is 0 or less does not run, as with Kafka's scheduler."""

    def __init__(self, config: BrokerConfig, clock: Clock, replicas: ReplicaManager) -> None:
        logs = replicas.logs
        self._cleaner: LogCleaner | None = None
        duties = [
            (config.retention_check_interval_ms, lambda: logs.retention_pass(clock.now_ms())),
            (config.checkpoint_interval_ms, replicas.checkpoint),
        ]
        if config.log_cleaner_enable:
            cleaner = LogCleaner(logs, dedupe_buffer_size=config.log_cleaner_dedupe_buffer_size)
            self._cleaner = cleaner
            duties.append(
                (
                    config.log_cleaner_backoff_ms,
                    lambda: cleaner.poll(clock.now_ms(), replicas.high_watermarks()),
                )
            )
        self._repeating = [Repeating(clock, ms, duty) for ms, duty in duties if ms > 0]
        self._flusher: FlushScheduler | None = None
        if config.flush_scheduler_interval_ms > 0:
            self._flusher = FlushScheduler(logs, clock, config.flush_scheduler_interval_ms)

    def stop(self) -> None:
        """No further passes; a cleaning pass under way is stopped and its files discarded."""
        for duty in self._repeating:
            duty.cancel()
        if self._flusher is not None:
            self._flusher.stop()
        if self._cleaner is not None:
            self._cleaner.close()


class FlushScheduler:
    """The flush passes (``LogManager.flush_pass``: fsync each log whose oldest unflushed
    write is flush.ms old), run when a flush comes due rather than on a fixed tick: a pass
    is armed for the earliest due flush, at least ``interval_ms``
    (``log.flush.scheduler.interval.ms``) after the previous pass, and none is armed while
    every log is flushed, so an idle node never wakes for it; a log written to while clean
    arms one."""

    def __init__(self, logs: LogManager, clock: Clock, interval_ms: int) -> None:
        self._logs = logs
        self._clock = clock
        self._interval_ms = interval_ms
        self._last_pass_ms = clock.now_ms()
        self._timer: TimerHandle | None = None
        self._armed_for: int | None = None  # when the armed pass runs (clock ms)
        logs.watch_flush_due(self._due)
        self._due(self._last_pass_ms)  # a first pass for the logs written before this

    def _due(self, due_ms: int) -> None:
        """A log's flush comes due at ``due_ms``: arm a pass for it unless one comes sooner."""
        at = max(due_ms, self._last_pass_ms + self._interval_ms)
        if self._armed_for is not None and self._armed_for <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = at
        self._timer = self._clock.call_later(max(0, at - self._clock.now_ms()) / 1000, self._run)

    def _run(self) -> None:
        self._timer = self._armed_for = None
        now = self._clock.now_ms()
        self._last_pass_ms = now
        try:
            next_due = self._logs.flush_pass(now)
        except Exception:  # as Repeating does: logged, and tried again at the next turn
            log.exception("background duty failed; it will run again")
            next_due = now
        if next_due is not None:
            self._due(next_due)

    def stop(self) -> None:
        self._logs.watch_flush_due(None)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._armed_for = None
