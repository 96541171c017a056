"""The logs' background duties, the same on a single node and on a cluster node: the
retention, flush and checkpoint passes, and the log cleaner when ``log.cleaner.enable``."""

from __future__ import annotations

from broker.clock import Clock, Repeating
from broker.config import BrokerConfig
from broker.replica.manager import ReplicaManager
from broker.storage.log_cleaner import LogCleaner


class LogDuties:
    """Started with the node's broker role, stopped before its logs close. A duty whose
    interval is 0 or less does not run, as with Kafka's scheduler."""

    def __init__(self, config: BrokerConfig, clock: Clock, replicas: ReplicaManager) -> None:
        logs = replicas.logs
        self._cleaner: LogCleaner | None = None
        duties = [
            (config.retention_check_interval_ms, lambda: logs.retention_pass(clock.now_ms())),
            (config.flush_scheduler_interval_ms, lambda: logs.flush_pass(clock.now_ms())),
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

    def stop(self) -> None:
        """No further passes; a cleaning pass under way is stopped and its files discarded."""
        for duty in self._repeating:
            duty.cancel()
        if self._cleaner is not None:
            self._cleaner.close()
