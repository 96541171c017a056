"""One analytics worker: poll ``tweets``, analyse, publish runs to ``tweet-stats``, commit.

``SIGUSR1`` arms the replay lesson's fault: die at the next commit point, uncommitted
(``consumers.crash``).

The commit discipline is what makes the folded results exact: a partition's committed offset
is always the first offset of its open run, and only after every result before it has been
acknowledged by the broker. A worker that dies, or a partition that moves, restarts at a run
boundary and republishes byte-identical ranges, which the fold drops (``consumers.fold``).
The worker does not stop reading while it waits for those acks: every ``COMMIT_INTERVAL_S`` it
takes a checkpoint and commits it (asynchronously) once its results are acknowledged
(``consumers.commits``). A revoke and a stop wait for the acks and the commit.

Each result carries two headers for the dashboard's tweet trace (``dashboard.trace``):
``member.id``, the group member that read its records, and ``read.ms``, the wall-clock time
(epoch ms) the worker read the result's last record.

A partition that receives nothing for ``IDLE_CLOSE_S`` has its open run closed, or its lag
would stay at that run's size until the stream resumes: the run's result is acknowledged, the
offset after it committed, and only once that commit succeeded is the run closed, so whoever
reads the partition next starts at the new run boundary (``consumers.runs``). That close rides
on the asynchronous checkpoints too: the worker reads its other partitions on meanwhile. A
record that reaches the closing partition before the commit is sent calls the close off (the
run goes on, the partition was not idle after all); once it is sent, such records are held
until the commit's outcome is known (a failed commit leaves the run open, and they join it).
Waiting there instead would stop every partition of the worker for as long as the results'
leader or the group coordinator takes to move, which is exactly when idle partitions appear:
their leader died.
"""

from __future__ import annotations

import argparse
import faulthandler
import functools
import logging
import os
import signal
import sys
import time
from typing import NoReturn

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from chirpstream.client_config import ConfigError, add_client_arguments, service_config
from chirpstream.kafka import Unreachable, ensure_topic
from chirpstream.logs import LEVELS, leader_changes, librdkafka_logging, setup_logging
from chirpstream.rebalance import taking_changes
from chirpstream.settings import (
    ANALYTICS_GROUP,
    DLQ_TOPIC,
    STATS_TOPIC,
    TWEETS_TOPIC,
)
from chirpstream.tweets import MalformedTweet
from consumers import crash
from consumers.commits import PendingCommits
from consumers.features import analyze
from consumers.runs import OffsetGap, RunBuilder

log = logging.getLogger("consumers")

COMMIT_INTERVAL_S = 1.0  # results acknowledged, then run starts committed
PARTIAL_INTERVAL_S = 0.2  # open runs published as partial results, so results lag < 1 window
RATE_INTERVAL_S = 5.0
IDLE_CLOSE_S = 2.0  # a partition quiet this long has its open run closed, so its lag reaches 0
STUCK_STOP_S = 20.0  # still running this long after SIGTERM: print every thread's stack


def client_id(worker_id: int) -> str:
    """``analytics-<worker>-<pid>``: unique on this host even with two launchers running, and
    the pid to ``kill`` a worker by, straight from ``groups --describe``."""
    return f"analytics-{worker_id}-{os.getpid()}"


class ResultsLost(Exception):
    """The broker never acknowledged a result: committing past it would lose those tweets, so
    the worker stops uncommitted and the group re-reads them from the last commit."""


class Worker:
    def __init__(
        self,
        worker_id: int,
        bootstrap: str,
        group: str,
        topic: str,
        stats_topic: str,
        dlq_topic: str,
        client_config: dict[str, str],
    ) -> None:
        self.name = f"worker {worker_id}"
        self.client_id = client_id(worker_id)
        self.group = group
        self.bootstrap = bootstrap
        self.client_config = client_config
        self.topic, self.stats_topic, self.dlq_topic = topic, stats_topic, dlq_topic
        consumer_config = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": self.client_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "on_commit": self._committed,
            **client_config,
        }
        self.consumer_config = consumer_config
        self.consumer = Consumer(
            leader_changes(librdkafka_logging(consumer_config), f"{self.name} reading")
        )
        producer_config = {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "on_delivery": self._delivered,
            **client_config,
        }
        self.producer = Producer(
            leader_changes(librdkafka_logging(producer_config), f"{self.name} publishing")
        )
        self.undelivered: str | None = None  # why a result was never acknowledged
        self.commits = PendingCommits()
        self.builders: dict[int, RunBuilder] = {}
        self.published: dict[int, bytes] = {}  # last partial published per partition
        self.last_record: dict[int, float] = {}  # when each partition's last record came
        self.closing: dict[int, int] = {}  # idle partition -> the run end its close commits
        self.held: dict[int, list[Message]] = {}  # records that came while it was closing
        self.running = True
        self.crash_before_commit = False  # armed by SIGUSR1: see consumers.crash
        self.processed = 0
        self.malformed = 0

    # -- rebalances ---------------------------------------------------------------------------

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.builders[tp.partition] = RunBuilder(tp.partition)
        self._print_assignment()

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Publish what belongs to the revoked partitions, then commit, then let go."""
        revoked = [tp.partition for tp in partitions if tp.partition in self.builders]
        for partition in revoked:
            self._end_close(partition, succeeded=False)
        self._checkpoint(revoked)
        for partition in revoked:
            del self.builders[partition]
            self.published.pop(partition, None)
        self._print_assignment()

    def _lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions already owned by someone else: nothing may be committed for them."""
        self.commits.forget(tp.partition for tp in partitions)
        for tp in partitions:
            self.builders.pop(tp.partition, None)
            self.published.pop(tp.partition, None)
            self.closing.pop(tp.partition, None)
            self.held.pop(tp.partition, None)
        self._print_assignment()

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None and self.undelivered is None:
            self.undelivered = error.str()

    def _result_delivered(self, number: int, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.commits.acknowledged(number)
        else:
            self._delivered(error, message)

    def _produce(self, topic: str, value: bytes, key: bytes | None, **headers: object) -> None:
        """Produce a result (or dead letter), numbered so a checkpoint can wait for its ack."""
        on_delivery = functools.partial(self._result_delivered, self.commits.sent())
        self.producer.produce(topic, value, key, on_delivery=on_delivery, **headers)

    def _result_headers(self, partition: int) -> list[tuple[str, bytes]]:
        """``member.id`` and ``read.ms`` of a result of ``partition`` produced now: its last
        record is the partition's latest one read (a run closed by a record is published
        before that record is noted in ``last_record``)."""
        headers = [("member.id", (self.consumer.memberid() or "").encode())]
        read = self.last_record.get(partition)
        if read is not None:
            read_ms = time.time_ns() // 1_000_000 - int((time.monotonic() - read) * 1000)
            headers.append(("read.ms", str(read_ms).encode()))
        return headers

    def _committed(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """An asynchronous commit's outcome: a failure only means some reprocessing, and
        leaves a closing run open."""
        if error is not None and error.code() != KafkaError._NO_OFFSET:
            log.warning("%s: commit failed (%s); the next commit retries", self.name, error.str())
        for tp in partitions:
            if tp.topic == self.topic and self.closing.get(tp.partition) == tp.offset:
                self._end_close(tp.partition, succeeded=error is None and tp.error is None)

    def _end_close(self, partition: int, succeeded: bool) -> None:
        """Close ``partition``'s open run if the commit of its end ``succeeded``; either way
        feed it the records held meanwhile. A partition not closing is left as it is."""
        if self.closing.pop(partition, None) is None:
            return
        if succeeded:
            self.builders[partition].flush()
            self.published.pop(partition, None)
        now = time.monotonic()
        for message in self.held.pop(partition):
            self._handle(message, now)

    def _print_assignment(self) -> None:
        print(f"{self.name}: partitions {sorted(self.builders)}", flush=True)

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        ensure_topic(self.bootstrap, self.stats_topic, 1, self.client_config)
        ensure_topic(self.bootstrap, self.dlq_topic, 1, self.client_config)
        self.consumer.subscribe(
            [self.topic],
            **taking_changes(
                self.consumer_config,
                on_assign=self._assigned,
                on_revoke=self._revoked,
                on_lost=self._lost,
            ),
        )
        print(f"READY {self.name} group={self.group} topic={self.topic}", flush=True)
        last_commit = last_partial = last_rate = time.monotonic()
        last_processed = 0
        while self.running:
            messages = self.consumer.consume(1000, timeout=0.1)
            now = time.monotonic()
            for message in messages:
                self._handle(message, now)
            self.producer.poll(0)
            self._commit_acknowledged()
            if now - last_commit >= COMMIT_INTERVAL_S:
                self._take_checkpoint(closing=self._idle(now))
                last_commit = last_partial = now
            elif now - last_partial >= PARTIAL_INTERVAL_S:
                self._publish_open_runs(list(self.builders))
                last_partial = now
            if now - last_rate >= RATE_INTERVAL_S:
                rate = (self.processed - last_processed) / (now - last_rate)
                print(
                    f"{self.name}: {rate:8.1f} tweets/s  total {self.processed}  malformed "
                    f"{self.malformed}  partitions {sorted(self.builders)}",
                    flush=True,
                )
                last_rate, last_processed = now, self.processed
        self._checkpoint(list(self.builders))
        self.consumer.close()

    def _handle(self, message: Message, now: float) -> None:
        if message.error() is not None:
            log.warning("%s: %s", self.name, message.error().str())
            return
        partition, offset, raw = message.partition(), message.offset(), message.value()
        builder = self.builders.get(partition)
        if builder is None:  # a late message for a partition given away
            return
        if partition in self.closing:
            end = self.closing[partition]
            if self.commits.waiting_for(partition, end):  # not committed yet: the run goes on
                self.commits.withdraw(partition, end)
                self.held[partition].append(message)
                self._end_close(partition, succeeded=False)
                return
            self.held[partition].append(message)  # a new run or the open one: not known yet
            return
        try:
            features = analyze(raw)
        except MalformedTweet as exc:
            features = None
            self._dead_letter(message, str(exc))
        try:
            closed = builder.feed_features(offset, features)
        except OffsetGap as gap:  # retention deleted what this partition had not read yet
            log.warning("%s: %s; starting a new run", self.name, gap)
            closed = [builder.open_run] if builder.open_run is not None else []
            builder = self.builders[partition] = RunBuilder(partition)
            closed += builder.feed_features(offset, features)
        for run in closed:
            self._produce(
                self.stats_topic, run.record(), run.key(), headers=self._result_headers(partition)
            )
        self.last_record[partition] = now
        self.processed += 1

    def _dead_letter(self, message: Message, reason: str) -> None:
        self.malformed += 1
        log.warning(
            "%s: skipped malformed record %s[%d]@%d: %s",
            self.name,
            message.topic(),
            message.partition(),
            message.offset(),
            reason,
        )
        headers = [
            ("error", reason.encode()),
            ("source.partition", str(message.partition()).encode()),
            ("source.offset", str(message.offset()).encode()),
        ]
        self._produce(self.dlq_topic, message.value(), message.key(), headers=headers)

    def _publish_open_runs(self, partitions: list[int]) -> None:
        """Publish each open run that grew since it was last published, as a partial result."""
        for partition in partitions:
            open_run = self.builders[partition].open_run
            if open_run is not None:
                record = open_run.record()
                if self.published.get(partition) != record:
                    self._produce(
                        self.stats_topic,
                        record,
                        open_run.key(),
                        headers=self._result_headers(partition),
                    )
                    self.published[partition] = record
        self.producer.poll(0)

    def _take_checkpoint(self, closing: set[int]) -> None:
        """Publish the open runs; commit their starts once every result so far is acked, and
        the ends of ``closing``'s runs (idle partitions), which close once that succeeded."""
        self._publish_open_runs(list(self.builders))
        offsets = {}
        for partition, builder in self.builders.items():
            if partition in closing:
                offsets[partition] = self.closing[partition] = builder.next_offset
                self.held[partition] = []
            elif partition not in self.closing and builder.commit_offset is not None:
                offsets[partition] = builder.commit_offset
        self.commits.take(offsets)

    def _commit_acknowledged(self) -> None:
        """Commit the newest checkpoint whose results are all acknowledged, without waiting."""
        if self.undelivered is not None:
            raise ResultsLost(f"{self.name}: a result was not delivered ({self.undelivered})")
        offsets = self.commits.ready()
        if offsets and self.crash_before_commit:
            self._crash()
        if offsets:
            self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in offsets.items()],
                asynchronous=True,
            )

    def _idle(self, now: float) -> set[int]:
        """Partitions with an open run, no record for ``IDLE_CLOSE_S``, and not closing."""
        return {
            partition
            for partition, builder in self.builders.items()
            if builder.open_run is not None
            and partition not in self.closing
            and now - self.last_record.get(partition, now) >= IDLE_CLOSE_S
        }

    def _checkpoint(self, partitions: list[int]) -> None:
        """Publish open runs as partial results, wait for every ack, then commit run starts
        (a revoke, a stop: the worker has nothing else to do meanwhile)."""
        self.commits.forget(partitions)  # what this commits is newer than what waits
        self._publish_open_runs(partitions)
        waiting = self.producer.flush(30)
        if self.undelivered is not None:
            raise ResultsLost(f"{self.name}: a result was not delivered ({self.undelivered})")
        if waiting > 0:
            log.warning("%s: results not acknowledged yet; not committing", self.name)
            return
        offsets = [
            TopicPartition(self.topic, p, self.builders[p].commit_offset)
            for p in partitions
            if self.builders[p].commit_offset is not None
        ]
        if offsets and self.crash_before_commit:
            self._crash()
        if offsets:
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:  # a failed commit only means some reprocessing
                if exc.args[0].code() != KafkaError._NO_OFFSET:
                    log.warning(
                        "%s: commit failed (%s); the next commit retries",
                        self.name,
                        exc.args[0].str(),
                    )

    def _crash(self) -> NoReturn:
        """The armed fault: print what was processed and not committed, then die uncommitted."""
        read = [p for p, builder in self.builders.items() if builder.next_offset is not None]
        owned = [TopicPartition(self.topic, p) for p in read]
        ranges = []
        try:
            for tp in self.consumer.committed(owned, timeout=5) if owned else []:
                low = tp.offset if tp.offset >= 0 else self.consumer.get_watermark_offsets(tp, 5)[0]
                last = self.builders[tp.partition].next_offset - 1
                if last >= low:
                    ranges.append(crash.UncommittedRange(self.topic, tp.partition, low, last))
        except KafkaException as exc:  # the line says less; the fault is taken all the same
            log.warning("%s: committed offsets unknown (%s)", self.name, exc.args[0].str())
        now_ms = int(time.time() * 1000)
        print(crash.crash_line(self.name, self.client_id, ranges, now_ms), flush=True)
        os._exit(crash.EXIT_CODE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m consumers.worker")
    parser.add_argument("--id", type=int, default=0)
    add_client_arguments(parser)
    parser.add_argument("--group", default=ANALYTICS_GROUP)
    parser.add_argument("--topic", default=TWEETS_TOPIC)
    parser.add_argument("--stats-topic", default=STATS_TOPIC)
    parser.add_argument("--dlq-topic", default=DLQ_TOPIC)
    parser.add_argument("--log-level", default="WARNING", choices=LEVELS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        bootstrap, config = service_config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    worker = Worker(
        args.id,
        bootstrap,
        args.group,
        args.topic,
        args.stats_topic,
        args.dlq_topic,
        config,
    )

    def stop(*_: object) -> None:
        worker.running = False
        # Stopping takes a checkpoint (results acked, then a commit) and a group leave: a
        # worker still at it after STUCK_STOP_S says where, on stderr, and goes on.
        faulthandler.dump_traceback_later(STUCK_STOP_S)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda *_: setattr(worker, "crash_before_commit", True))
    try:
        worker.run()
    except (Unreachable, ResultsLost) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
