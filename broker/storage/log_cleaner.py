"""The background log cleaner: which log to clean next, the cleaner process, its checkpoint.

``LogCleaner.poll`` runs every ``log.cleaner.backoff.ms`` on the broker's own thread and never
waits: if a pass is running it only looks whether it is done (then swaps it in and writes
``cleaner-offset-checkpoint``); otherwise it picks the filthiest compacted log and starts a
pass (``cleaner.clean``) in a cleaner process of its own, one at a time, like Kafka's single
``log.cleaner.threads``. That process does the reading, decoding and writing, so produce and
fetch keep the event loop, and the interpreter lock, to themselves; it runs at background
priority (nice 10), so it takes the CPU the broker leaves idle. It dies with the broker
(``PR_SET_PDEATHSIG``), so a SIGKILLed broker leaves no writer behind to race the next start.
A pass that fails, or whose process dies, marks its log uncleanable until the broker restarts,
with one ERROR line, as Kafka does.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
from collections.abc import Mapping
from dataclasses import replace
from multiprocessing.connection import Connection

from broker.storage import swap
from broker.storage.checkpoint import read_offsets, write_offsets
from broker.storage.cleaner import (
    CLEANER_CHECKPOINT,
    CleaningJob,
    CleaningResult,
    clean,
    discard,
    grab_filthiest,
    max_keys_for,
    plan,
    swap_in,
)
from broker.storage.log import PartitionLog
from broker.storage.manager import LogManager

log = logging.getLogger("broker.storage.cleaner")

TopicPartition = tuple[str, int]
_PR_SET_PDEATHSIG = 1
# The cleaner process's nice value: under CPU contention Linux gives it about a tenth of what
# the broker's event loop gets, so produce keeps its throughput while a pass runs.
CLEANER_NICENESS = 10


class CleanerProcess:
    """One pass running in a process of its own; its answer comes back through a pipe."""

    def __init__(self, job: CleaningJob) -> None:
        context = multiprocessing.get_context("spawn")
        self._answers, answer = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_run_pass, args=(job, answer), name="log-cleaner", daemon=True
        )
        self.process.start()
        answer.close()

    def answer(self) -> CleaningResult | Exception | None:
        """The pass's result or error once it ended, else None."""
        if not self._answers.poll():
            if self.process.is_alive():
                return None
            if not self._answers.poll():  # it may have answered just before it exited
                return RuntimeError(f"the cleaner process died (exit code {self.process.exitcode})")
        try:
            return self._answers.recv()
        except EOFError:
            return RuntimeError(f"the cleaner process died (exit code {self.process.exitcode})")

    def stop(self) -> None:
        self.process.kill()
        self.process.join()
        self._answers.close()


class LogCleaner:
    def __init__(self, logs: LogManager, *, dedupe_buffer_size: int) -> None:
        self.logs = logs
        self.max_keys = max_keys_for(dedupe_buffer_size)
        self.path = logs.root / CLEANER_CHECKPOINT
        self.checkpoints: dict[TopicPartition, int] = read_offsets(self.path)
        self.uncleanable: set[TopicPartition] = set()
        self._running: tuple[TopicPartition, PartitionLog, CleaningJob, CleanerProcess] | None = (
            None
        )

    def poll(self, now_ms: int, high_watermarks: Mapping[TopicPartition, int]) -> None:
        """Swap in a finished pass, then start the next one if a log needs it."""
        if self._running is not None:
            key, partition_log, job, running = self._running
            answer = running.answer()
            if answer is None:
                return
            self._running = None
            running.stop()
            if isinstance(answer, Exception):
                self._failed(key, job, answer)
            else:
                self._finish(key, partition_log, job, answer)
        picked = self._pick(now_ms, high_watermarks)
        if picked is not None:
            key, partition_log, job = picked
            job = replace(job, in_child=True)
            self._running = (key, partition_log, job, CleanerProcess(job))

    def close(self) -> None:
        """Stop a running pass; it leaves only ``.cleaned`` files, deleted here (or by the
        next load)."""
        if self._running is not None:
            self._running[3].stop()
            self._discard_all(self._running[2])
            self._running = None

    def _pick(
        self, now_ms: int, high_watermarks: Mapping[TopicPartition, int]
    ) -> tuple[TopicPartition, PartitionLog, CleaningJob] | None:
        logs = self.logs.logs
        found = grab_filthiest(logs, self.checkpoints, now_ms, high_watermarks, self.uncleanable)
        if found is None:
            return None
        key, cleanable = found
        partition_log = logs[key]
        job = plan(partition_log, cleanable, now_ms, self.max_keys)
        return None if job is None else (key, partition_log, job)

    def _finish(
        self,
        key: TopicPartition,
        partition_log: PartitionLog,
        job: CleaningJob,
        result: CleaningResult,
    ) -> None:
        if self.logs.get(*key) is not partition_log:  # deleted (or made again) meanwhile
            discard(partition_log, result)
            return
        try:
            swapped = swap_in(partition_log, result)
        except OSError as err:
            self._failed(key, job, err)
            return
        if not swapped:
            return
        self.checkpoints[key] = result.dirty_end
        logs = self.logs.logs
        try:
            write_offsets(self.path, {k: v for k, v in self.checkpoints.items() if k in logs})
        except OSError as err:
            self.logs.disk.failed("write the cleaner checkpoint", err)
        megabytes = result.bytes_read / 1e6
        log.info(
            "%s: cleaned offsets %d to %d (dirty from %d): %.1f MB read, %.1f MB written, "
            "%d of %d records kept, in %.2f s (%.1f MB/s)",
            partition_log.name,
            job.segments[0].base_offset,
            result.dirty_end - 1,
            job.first_dirty,
            megabytes,
            result.bytes_written / 1e6,
            result.records_kept,
            result.records_read,
            result.seconds,
            megabytes / result.seconds if result.seconds else 0.0,
        )

    def _failed(self, key: TopicPartition, job: CleaningJob, err: BaseException) -> None:
        self.uncleanable.add(key)
        self._discard_all(job)
        log.error(
            "%s: log cleaning failed (%s); the log is not cleaned again until the broker restarts",
            job.name,
            err,
        )

    @staticmethod
    def _discard_all(job: CleaningJob) -> None:
        with contextlib.suppress(OSError):
            for path in job.directory.iterdir():
                if path.name.endswith(swap.CLEANED):
                    path.unlink(missing_ok=True)


def _run_pass(job: CleaningJob, answer: Connection) -> None:
    """The cleaner process: die with the broker, leave Ctrl-C and SIGTERM (sent to a whole
    process group) to it, run at background priority, clean, answer with the result or the
    error (as text: any error pickles)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.nice(CLEANER_NICENESS)
    try:
        result: CleaningResult | Exception = clean(job)
    except Exception as err:
        result = RuntimeError(f"{type(err).__name__}: {err}")
    answer.send(result)
    answer.close()
