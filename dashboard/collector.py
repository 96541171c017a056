"""The dashboard collector: samples the cluster every second and materialises ``tweet-stats``.

It speaks Kafka only through confluent-kafka's public Admin and Consumer APIs, so it works
against the bundled broker and any real Kafka cluster alike:

- metadata (``list_topics``): brokers, and per partition leader, replicas and ISR; topics
  whose names start with ``__`` (``__consumer_offsets``) are skipped;
- watermarks: two batched ``list_offsets`` calls (earliest, latest) for every partition;
- groups: ``list_consumer_groups``, one ``describe_consumer_groups`` for all of them, and
  ``list_consumer_group_offsets`` per group (the API takes one group per request; the
  requests run concurrently);
- one Consumer, assigned (never subscribed, never committing) to every partition of
  ``tweet-stats`` from the beginning, folded by ``StatsFolder``, and to the newest few
  records of each partition of ``tweets`` for the live tail.

A cluster that cannot be reached is recorded as an error status in the store; the next
sample that succeeds sets it back to ok.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from chirpstream.settings import STATS_TOPIC, TWEETS_TOPIC
from consumers.fold import StatsFolder
from dashboard.generations import OFFSETS_TOPIC, group_generation
from dashboard.store import (
    KEEP_SECONDS,
    LABEL_COLUMNS,
    TAIL_KEEP,
    BrokerRow,
    ClusterSample,
    CommitRow,
    GroupRow,
    MemberRow,
    PartitionRow,
    Store,
    TailRow,
    WindowRow,
)

TAIL_PER_PARTITION = 40  # start the tail this many records before each partition's end
TOP_HASHTAGS = 10
TOP_AUTHORS = 10
READER_GROUP = "chirpstream-dashboard"  # required by librdkafka; never joined, never committed


class Collector:
    """Samples ``bootstrap`` into ``store`` every ``interval_s`` seconds until ``stop()``."""

    def __init__(
        self,
        bootstrap: str,
        store: Store,
        client_config: Mapping[str, str] | None = None,
        interval_s: float = 1.0,
        *,
        timeout_s: float = 3.0,
        keep_seconds: float = KEEP_SECONDS,
    ) -> None:
        self.bootstrap = bootstrap
        self.store = store
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.keep_seconds = keep_seconds
        config = {"bootstrap.servers": bootstrap, **(client_config or {})}
        self._config = config
        self.admin = AdminClient(config)
        self.consumer = Consumer(
            {
                **config,
                "group.id": READER_GROUP,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
            }
        )
        self.folder = StatsFolder(keep_windows=int(keep_seconds))
        self.generations: dict[str, int | None] = {}  # from __consumer_offsets
        self.samples = 0
        self.errors = 0
        self.cpu_s = 0.0  # process CPU spent in sample_once, summed
        self._assigned: set[tuple[str, int]] = set()
        self._seen_brokers: dict[int, BrokerRow] = {}
        self._running = False
        self._closed = False
        self._ready = False
        self._last_prune = 0.0

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Sample every ``interval_s`` until ``stop()``; between samples, read records."""
        self._running = True
        try:
            while self._running:
                started = time.monotonic()
                self.sample_once(drain_s=0.0)
                while self._running:
                    left = self.interval_s - (time.monotonic() - started)
                    if left <= 0:
                        break
                    self.read_records(min(left, 0.2))
        finally:
            self.close()

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        """Close the consumer (idempotent); the store stays open for its owner."""
        if not self._closed:
            self._closed = True
            self.consumer.close()

    def sample_once(self, drain_s: float = 0.5) -> bool:
        """One cluster sample, then read ``tweet-stats`` / ``tweets`` for up to ``drain_s``
        seconds. Returns whether the cluster sample succeeded (an error is stored, not
        raised)."""
        cpu = time.process_time()
        ok = self._sample_cluster()
        if ok:
            self.read_records(drain_s)
        self.cpu_s += time.process_time() - cpu
        if time.monotonic() - self._last_prune > 60:
            self.store.prune(self.keep_seconds)
            self._last_prune = time.monotonic()
        return ok

    # -- cluster sampling --------------------------------------------------------------

    def _sample_cluster(self) -> bool:
        ts_ms = time.time_ns() // 1_000_000
        started = time.perf_counter()
        try:
            sample = self._collect(ts_ms)
        except (KafkaException, TimeoutError, OSError) as exc:
            self.errors += 1
            # librdkafka's admin client can stay stuck on a coordinator that went away (a
            # describe that times out forever after a broker restart): start afresh.
            self.admin = AdminClient(self._config)
            self.store.write_error(
                f"cannot sample Kafka at {self.bootstrap}: {_describe(exc)}. Is the broker"
                " running (`chirpstream broker`) and --bootstrap-servers right?"
            )
            return False
        sample.took_ms = (time.perf_counter() - started) * 1000
        self.store.write_sample(sample)
        self.samples += 1
        if not self._ready:
            self._ready = True
            print(
                f"READY collector bootstrap={self.bootstrap} store={self.store.path}"
                f" topics={len({p.topic for p in sample.partitions})}"
                f" groups={len(sample.groups)}",
                flush=True,
            )
        return True

    def _collect(self, ts_ms: int) -> ClusterSample:
        timeout = self.timeout_s
        metadata = self.admin.list_topics(timeout=timeout)
        sample = ClusterSample(ts_ms)
        for node in metadata.brokers.values():
            self._seen_brokers[node.id] = BrokerRow(node.id, node.host, node.port)
        for node_id, row in sorted(self._seen_brokers.items()):
            up = node_id in metadata.brokers
            sample.brokers.append(BrokerRow(row.node_id, row.host, row.port, up))

        partitions = [
            (name, p)
            for name, topic in metadata.topics.items()
            if not name.startswith("__") and topic.error is None
            for p in topic.partitions.values()
        ]
        tps = [TopicPartition(name, p.id) for name, p in partitions]
        earliest = self._offsets(tps, OffsetSpec.earliest())
        latest = self._offsets(tps, OffsetSpec.latest())
        for name, p in partitions:
            sample.partitions.append(
                PartitionRow(
                    name,
                    p.id,
                    p.leader,
                    list(p.replicas),
                    list(p.isrs),
                    earliest.get((name, p.id)),
                    latest.get((name, p.id)),
                )
            )

        listing = self.admin.list_consumer_groups(request_timeout=timeout).result(timeout + 1)
        if listing.errors:
            raise (
                listing.errors[0]
                if isinstance(listing.errors[0], KafkaException)
                else (KafkaException(listing.errors[0]))
            )
        group_ids = sorted(g.group_id for g in listing.valid if g.group_id != READER_GROUP)
        if group_ids:
            described = self.admin.describe_consumer_groups(group_ids, request_timeout=timeout)
            offsets = {
                group: self.admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
                )[group]
                for group in group_ids
            }
            for group in group_ids:
                self._add_group(sample, group, described[group], offsets[group])
        self._assign(metadata, latest, earliest)
        return sample

    def _offsets(self, tps: list[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        if not tps:
            return {}
        futures = self.admin.list_offsets({tp: spec for tp in tps}, request_timeout=self.timeout_s)
        found, failed = {}, []
        for tp, future in futures.items():
            try:
                found[(tp.topic, tp.partition)] = future.result(self.timeout_s + 1).offset
            except KafkaException as exc:
                failed.append(exc)  # this partition's offsets stay NULL in the sample
        if failed and not found:
            raise failed[0]  # no partition answered: the cluster is not reachable
        return found

    def _add_group(
        self, sample: ClusterSample, group: str, described: Future, offsets: Future
    ) -> None:
        timeout = self.timeout_s + 1
        desc = described.result(timeout)
        assigned: set[tuple[str, int]] = set()
        for member in desc.members:
            tps = [] if member.assignment is None else member.assignment.topic_partitions
            pairs = sorted((tp.topic, tp.partition) for tp in tps)
            assigned.update(pairs)
            sample.members.append(
                MemberRow(group, member.member_id, member.client_id, member.host, pairs)
            )
        state = getattr(desc.state, "name", str(desc.state))
        sample.groups.append(
            GroupRow(
                group,
                state,
                "" if desc.is_simple_consumer_group else "consumer",
                desc.partition_assignor or "",
                len(desc.members),
                self.generations.get(group),
            )
        )
        committed: dict[tuple[str, int], int | None] = dict.fromkeys(assigned)
        for tp in offsets.result(timeout).topic_partitions:
            if tp.topic.startswith("__"):
                continue
            committed[(tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else None
        for (topic, partition), offset in sorted(committed.items()):
            sample.commits.append(CommitRow(group, topic, partition, offset))

    # -- reading tweet-stats and the tail ----------------------------------------------

    def _assign(self, metadata: Any, latest: Mapping, earliest: Mapping) -> None:
        """Add partitions of ``tweet-stats`` (from the beginning) and ``tweets`` (the last
        few records) that are not assigned yet."""
        new: list[TopicPartition] = []
        for topic in (STATS_TOPIC, TWEETS_TOPIC, OFFSETS_TOPIC):
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            for p in meta.partitions:
                if (topic, p) in self._assigned:
                    continue
                if topic in (STATS_TOPIC, OFFSETS_TOPIC):
                    new.append(TopicPartition(topic, p, OFFSET_BEGINNING))
                else:
                    end, start = latest.get((topic, p)), earliest.get((topic, p))
                    if end is None or start is None:
                        continue
                    new.append(TopicPartition(topic, p, max(start, end - TAIL_PER_PARTITION)))
                self._assigned.add((topic, p))
        if new:
            self.consumer.incremental_assign(new)

    def read_records(self, timeout_s: float) -> int:
        """Consume what is available (waiting up to ``timeout_s`` for the first batch), fold
        results, keep the tail; write both to the store. Returns the records read."""
        if not self._assigned:
            return 0
        read = 0
        touched: set[int] = set()
        tail: list[TailRow] = []
        stats_read = False
        wait = timeout_s
        while True:
            messages = self.consumer.consume(5000, timeout=wait)
            wait = 0.0
            if not messages:
                break
            for msg in messages:
                if msg.error() is not None:
                    continue
                read += 1
                if msg.topic() == OFFSETS_TOPIC:
                    found = group_generation(msg.key(), msg.value())
                    if found is not None:
                        self.generations[found[0]] = found[1]
                elif msg.topic() == STATS_TOPIC:
                    stats_read = True
                    result = _decode(msg.value())
                    self.folder.add(msg.value() if result is None else result)
                    window = None if result is None else result.get("window_start_ms")
                    if type(window) is int:
                        touched.add(window)
                else:
                    tail.append(_tail_row(msg))
            if len(messages) < 5000:
                break
        if stats_read:
            self._write_analytics(touched)
        if tail:
            self.store.write_tail(tail[-TAIL_KEEP:])
        return read

    def _write_analytics(self, touched: set[int]) -> None:
        folder = self.folder
        windows, removed = [], []
        for window in sorted(touched):
            counts = folder.per_window.get(window)
            if counts is None:
                removed.append(window)
                continue
            windows.append(
                WindowRow(
                    window,
                    counts.tweets,
                    counts.malformed,
                    counts.retweets,
                    counts.replies,
                    counts.sentiment_sum,
                    {label: counts.labels.get(label, 0) for label in LABEL_COLUMNS},
                    dict(counts.languages),
                    sorted(counts.hashtags.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_HASHTAGS],
                )
            )
        t = folder.totals
        totals = {
            "tweets": t.tweets,
            "malformed": t.malformed,
            "retweets": t.retweets,
            "replies": t.replies,
            "sentiment_sum": t.sentiment_sum,
            "labels": dict(t.labels),
            "languages": dict(t.languages),
            "top_hashtags": folder.top_hashtags(TOP_HASHTAGS),
            "top_authors": folder.top_authors(TOP_AUTHORS),
            "applied": folder.applied,
            "superseded": folder.superseded,
            "duplicates": folder.duplicates,
            "invalid": folder.invalid,
            "overlaps": folder.overlaps,
        }
        self.store.write_analytics(windows, totals, removed)


def _decode(value: bytes | None) -> dict[str, Any] | None:
    """A result record's JSON object, or None (the folder then counts it as invalid)."""
    try:
        result = json.loads(value or b"null")
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def _tail_row(msg: Any) -> TailRow:
    value = msg.value() or b""
    key = msg.key()
    username = lang = None
    try:
        document = json.loads(value)
        tweet = document["data"]
        text = str(tweet.get("text", ""))
        lang = tweet.get("lang")
        author = tweet.get("author_id")
        for user in document.get("includes", {}).get("users", ()):
            if user.get("id") == author:
                username = user.get("username")
    except (ValueError, KeyError, TypeError, AttributeError):
        text = value[:280].decode(errors="replace")
    return TailRow(
        msg.partition(),
        msg.offset(),
        msg.timestamp()[1],
        None if key is None else key.decode(errors="replace"),
        username,
        lang,
        text,
    )


def _describe(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.str() if hasattr(arg, "str") else str(arg)
