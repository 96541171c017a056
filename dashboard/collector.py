"""The dashboard collector: samples the cluster every second into the store.

It speaks only Kafka's public protocol, through the project's wire client
(``dashboard.cluster_probe``) where it can and confluent-kafka's Admin and Consumer APIs, so it
works against the bundled broker and any real Kafka cluster alike:

- the cluster itself (``dashboard.cluster_probe``): brokers with their state and the active
  controller, per partition leader, leader epoch, replicas, ISR and offline replicas, and the
  controller quorum; where the probe cannot ask (a TLS or SASL cluster), metadata from
  ``list_topics`` (brokers, leader, replicas, ISR). Topics whose names start with ``__``
  (``__consumer_offsets``) are skipped;
- the events between this sample and the previous one (``dashboard.cluster_events``): leader
  elections, ISR shrinks and expands, broker state and controller changes, rebalances;
- watermarks: ListOffsets (earliest, latest) for every partition, sent by the probe to each
  leader it names (two batched ``list_offsets`` calls where the probe cannot ask), and each
  replica's log end offset (the probe's ``log_ends``, one request per broker). With
  them the sample's view of the cluster is stored at once (``Store.write_view``), and the
  rest of the sample when it is complete;
- groups: by the probe (``ClusterProbe.groups``: ListGroups to every running broker,
  DescribeGroups to each coordinator) and each group's committed offsets by its OffsetFetch
  to the coordinator; where the probe cannot ask (TLS, SASL), ``list_consumer_groups``, one
  ``describe_consumer_groups`` for all of them and ``list_consumer_group_offsets`` per group,
  run concurrently. librdkafka 2.16.0's admin client crashes the process now and then while a
  broker restarts in the last two (a SIGABRT, a SIGSEGV), so it is not used where the probe
  can ask. Then the watermarks again, as ``kafka-consumer-groups.sh`` reads the log end
  offsets after the committed ones;
- each topic's settings (``describe_configs``), every ``CONFIGS_EVERY_S`` and for new topics;
- the live tail: a consumer assigned, at each sample, to the last ``TAIL_PER_PARTITION``
  records of each partition of ``tweets`` (never more), read for at most ``TAIL_BUDGET_S``.

``tweet-stats`` and ``__consumer_offsets`` are read by a ``StatsReader`` on its own consumer
and, under ``run()``, its own thread: however far behind it is, the sample keeps its beat.

A cluster that cannot be reached is recorded as an error status in the store; the next
sample that succeeds sets it back to ok.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import ConfigResource, OffsetSpec, ResourceType

from chirpstream.settings import STATS_TOPIC, TWEETS_TOPIC
from dashboard import clients
from dashboard.clients import READER_GROUP
from dashboard.cluster_events import diff
from dashboard.cluster_probe import (
    ClusterProbe,
    ClusterView,
    GroupInfo,
    librdkafka_group_info,
    speaks,
)
from dashboard.rows import (
    BrokerRow,
    ClusterSample,
    CommitRow,
    GroupRow,
    PartitionRow,
    TailRow,
)
from dashboard.stats_reader import StatsReader
from dashboard.store import KEEP_SECONDS, TAIL_KEEP, Store

log = logging.getLogger(__name__)
TAIL_PER_PARTITION = 40  # the tail reads at most this many records per partition and sample
TAIL_BUDGET_S = 0.3
CONFIGS_EVERY_S = 30.0
TOPIC_SETTINGS = ("cleanup.policy", "retention.ms", "segment.ms", "min.insync.replicas")
STATS_BUDGET_S = 0.5  # one bounded read of the stats reader's thread


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
        controllers: str | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.store = store
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.keep_seconds = keep_seconds
        config = {"bootstrap.servers": bootstrap, **(client_config or {})}
        self._config = config
        self.admin = clients.admin(config)
        self.tail_reader = clients.reader(config)
        self.stats = StatsReader(config, store, keep_seconds, timeout_s)
        self.probe = ClusterProbe(bootstrap, controllers, timeout_s)
        self._wire = speaks(config)  # groups by the probe, never by librdkafka's admin client
        self._previous: ClusterSample | None = None  # the last good sample, for its events
        self.samples = 0
        self.errors = 0
        self.cpu_s = 0.0  # process CPU (librdkafka's threads too) during sample_once, summed
        self._tail_next: dict[int, int] = {}  # partition of tweets -> next offset to show
        self._configs_read: dict[str, float] = {}  # topic -> when its settings were read
        self._seen_brokers: dict[int, BrokerRow] = {}
        self._stopping = threading.Event()
        self._closed = False
        self._ready = False
        self._last_prune = 0.0

    @property
    def generations(self) -> dict[str, int | None]:
        """Group generations read from ``__consumer_offsets``."""
        return self.stats.generations

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Sample every ``interval_s`` until ``stop()``, with the stats reader on its own
        thread; the beat is kept from sample start to sample start."""
        reader = threading.Thread(target=self._read_stats, name="stats-reader", daemon=True)
        reader.start()
        try:
            next_beat = time.monotonic()
            while not self._stopping.is_set():
                self.sample_once(drain_s=0.0)
                next_beat = max(next_beat + self.interval_s, time.monotonic())
                self._stopping.wait(next_beat - time.monotonic())
        finally:
            self._stopping.set()
            reader.join(10)
            self.close()

    def _read_stats(self) -> None:
        while not self._stopping.is_set():
            try:
                self.stats.read(STATS_BUDGET_S)
            except KafkaException as exc:  # the sampler reports the cluster's state
                log.warning("reading %s: %s", STATS_TOPIC, _describe(exc))
                self._stopping.wait(1.0)
        self.stats.save()

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        """Close the consumers (idempotent); the store stays open for its owner."""
        if not self._closed:
            self._closed = True
            self.tail_reader.close()
            self.stats.close()
            self.probe.close()

    def sample_once(self, drain_s: float = 0.5) -> bool:
        """One cluster sample (with the tail), then read ``tweet-stats`` for up to
        ``drain_s`` seconds (``run()`` reads it on another thread and passes 0). Returns
        whether the cluster sample succeeded (an error is stored, not raised)."""
        cpu = time.process_time()
        ok = self._sample_cluster()
        self.cpu_s += time.process_time() - cpu
        if ok and drain_s > 0:
            self.stats.read(drain_s)
        if time.monotonic() - self._last_prune > 60:
            self.store.prune(self.keep_seconds)
            self._last_prune = time.monotonic()
        return ok

    # -- cluster sampling --------------------------------------------------------------

    def _sample_cluster(self) -> bool:
        ts_ms = time.time_ns() // 1_000_000
        started = time.perf_counter()
        self.admin.poll(0)  # serves the admin client's queued log lines
        try:
            sample = self._collect(ts_ms)
        except (KafkaException, TimeoutError, OSError) as exc:
            self.errors += 1
            # librdkafka's admin client can stay stuck on a coordinator that went away (a
            # describe that times out forever after a broker restart): start afresh.
            self.admin = clients.admin(self._config)
            self.store.write_error(
                f"cannot sample Kafka at {self.bootstrap}: {_describe(exc)}. Is the broker"
                " running (`chirpstream broker`) and --bootstrap-servers right?"
            )
            return False
        sample.took_ms = (time.perf_counter() - started) * 1000
        self.store.write_sample(replace(sample, events=[]))  # stored with its view
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
        """One sample. Its view of the cluster (brokers, partitions with their offsets, the
        quorum, the events) is stored at once (``Store.write_view``), so the Cluster page
        shows an election without waiting for the groups: with a broker down they wait for
        it (the listing) or on a coordinator that has not moved yet (describe, offsets)."""
        sample = ClusterSample(ts_ms)
        view = self.probe.view()
        if view is not None:
            sample.brokers, sample.quorum = view.brokers, view.quorum
            partitions = [p for p in view.partitions if not p.topic.startswith("__")]
        else:
            partitions = self._list_topics(sample)
        earliest, latest = self._read_offsets(view, partitions)
        ends = self.probe.log_ends(view, partitions) if view is not None else {}
        sample.partitions = _with_offsets(partitions, earliest, latest, ends)
        sample.events = diff(self._previous, sample)
        self._previous = sample
        self.store.write_view(sample)

        if self._read_groups(sample, view, wire=self._wire):
            # The log end offsets again, after the committed offsets, as
            # kafka-consumer-groups.sh reads them: the other order under-counts lag by what
            # was produced in between.
            earliest, latest = self._read_offsets(view, partitions)
            sample.partitions = _with_offsets(partitions, earliest, latest, ends)
        self._read_tail(earliest, latest)
        self._read_configs(sorted({p.topic for p in sample.partitions}))
        return sample

    def _read_offsets(
        self, view: ClusterView | None, partitions: list[PartitionRow]
    ) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        """(log start, high watermark) of each partition that answered: from the leaders
        ``view`` names, or (no view) as librdkafka routes them."""
        if view is not None:
            offsets = self.probe.offsets(view, partitions)
            return (
                {key: start for key, (start, _) in offsets.items()},
                {key: end for key, (_, end) in offsets.items()},
            )
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        return self._offsets(tps, OffsetSpec.earliest()), self._offsets(tps, OffsetSpec.latest())

    def _read_groups(self, sample: ClusterSample, view: ClusterView | None, *, wire: bool) -> bool:
        """The consumer groups, their members and committed offsets into ``sample``; whether
        there were any. ``wire``: read by the probe (a PLAINTEXT cluster; none while the probe
        has no ``view``), else by librdkafka (TLS, SASL)."""
        if wire:
            groups = None if view is None else self.probe.groups(view, skip=(READER_GROUP,))
        else:
            groups = self._described()
        if groups is None:  # as librdkafka's listing with every broker failing its part
            log.info("listing groups: no broker answered")
        if not groups:
            return False
        ids = [g.group_id for g in groups]
        for group, committed in zip(groups, self._committed(ids, wire), strict=True):
            self._add_group(sample, group, committed)
        return True

    def _described(self) -> list[GroupInfo]:
        """The groups as librdkafka's admin client lists and describes them, for a cluster
        the probe cannot ask (TLS, SASL). Not where the probe can: librdkafka 2.16.0's
        ``describe_consumer_groups`` aborts the process (``rd_kafka_enq_once_del_source_return:
        eonce->refcnt > 0``) now and then while a broker restarts."""
        timeout = self.timeout_s
        listing = self.admin.list_consumer_groups(request_timeout=timeout).result(timeout + 1)
        if listing.errors:
            # A broker that is down or hung (paused) fails its own part of the listing, and
            # the groups of the others are still worth showing.
            log.info("listing groups: %s", "; ".join(_describe(e) for e in listing.errors))
        ids = sorted(g.group_id for g in listing.valid if g.group_id != READER_GROUP)
        if not ids:
            return []
        described = self.admin.describe_consumer_groups(ids, request_timeout=timeout)
        return [librdkafka_group_info(group, described[group].result(timeout + 1)) for group in ids]

    def _committed(self, group_ids: list[str], wire: bool) -> list[dict[tuple[str, int], int]]:
        """Each group's committed offsets (-1: none), by the probe when it can ask (``wire``):
        librdkafka 2.16.0's admin ListConsumerGroupOffsets crashes the process (SIGSEGV)
        when a coordinator answers NOT_COORDINATOR, as one does while a broker restarts
        (librdkafka issue 5040). A coordinator that does not answer leaves the group's
        offsets unknown."""
        if wire:
            return [self.probe.committed(group) or {} for group in group_ids]
        futures = [
            self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=self.timeout_s
            )[group]
            for group in group_ids
        ]
        answers = [future.result(self.timeout_s + 1) for future in futures]
        return [{(tp.topic, tp.partition): tp.offset for tp in a.topic_partitions} for a in answers]

    def _list_topics(self, sample: ClusterSample) -> list[PartitionRow]:
        """Brokers (into ``sample``) and partitions (offsets unset) from ``list_topics``."""
        metadata = self.admin.list_topics(timeout=self.timeout_s)
        for node in metadata.brokers.values():
            self._seen_brokers[node.id] = BrokerRow(node.id, node.host, node.port)
        for node_id, row in sorted(self._seen_brokers.items()):
            up = node_id in metadata.brokers
            sample.brokers.append(BrokerRow(row.node_id, row.host, row.port, up))
        return [
            PartitionRow(name, p.id, p.leader, list(p.replicas), list(p.isrs), None, None)
            for name, topic in metadata.topics.items()
            if not name.startswith("__") and topic.error is None
            for p in topic.partitions.values()
        ]

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
        self, sample: ClusterSample, group: GroupInfo, offsets: Mapping[tuple[str, int], int]
    ) -> None:
        assigned: set[tuple[str, int]] = set()
        for member in group.members:
            assigned.update(member.assignment)
            sample.members.append(member)
        sample.groups.append(
            GroupRow(
                group.group_id,
                group.state,
                group.protocol_type,
                group.assignor,
                len(group.members),
                self.generations.get(group.group_id),
            )
        )
        committed: dict[tuple[str, int], int | None] = dict.fromkeys(assigned)
        for (topic, partition), offset in offsets.items():
            if not topic.startswith("__"):
                committed[(topic, partition)] = offset if offset >= 0 else None
        for (topic, partition), offset in sorted(committed.items()):
            sample.commits.append(CommitRow(group.group_id, topic, partition, offset))

    # -- the tail and the topic settings -----------------------------------------------

    def _read_tail(self, earliest: Mapping, latest: Mapping) -> None:
        """Read the newest records of each partition of ``tweets`` not shown yet: at most
        ``TAIL_PER_PARTITION`` per partition (seeking near the end), for at most
        ``TAIL_BUDGET_S``."""
        starts: dict[int, int] = {}
        for (topic, p), end in latest.items():
            start = earliest.get((topic, p))
            if topic != TWEETS_TOPIC or start is None:
                continue
            shown = self._tail_next.get(p, 0)
            if shown > end:  # the topic was recreated: its offsets start again
                shown = 0
            start = max(start, end - TAIL_PER_PARTITION, shown)
            if start < end:
                starts[p] = start
        if not starts:
            return
        self.tail_reader.assign([TopicPartition(TWEETS_TOPIC, p, o) for p, o in starts.items()])
        ends = {p: latest[(TWEETS_TOPIC, p)] for p in starts}
        rows: list[TailRow] = []
        deadline = time.monotonic() + TAIL_BUDGET_S
        try:
            while starts and (left := deadline - time.monotonic()) > 0:
                for msg in self.tail_reader.consume(TAIL_PER_PARTITION, timeout=left):
                    if msg.error() is not None or msg.partition() not in starts:
                        continue
                    if msg.offset() < ends[msg.partition()]:
                        rows.append(_tail_row(msg))
                    self._tail_next[msg.partition()] = msg.offset() + 1
                    if msg.offset() + 1 >= ends[msg.partition()]:
                        del starts[msg.partition()]
        finally:
            self.tail_reader.unassign()
        if rows:
            self.store.write_tail(rows[-TAIL_KEEP:])

    def _read_configs(self, topics: list[str]) -> None:
        """Read the settings of topics not read for ``CONFIGS_EVERY_S``; a topic whose
        settings cannot be read keeps the ones stored."""
        now = time.monotonic()
        due = [
            t for t in topics if now - self._configs_read.get(t, float("-inf")) > CONFIGS_EVERY_S
        ]
        if not due:
            return
        resources = [ConfigResource(ResourceType.TOPIC, t) for t in due]
        found: dict[str, dict[str, str | None]] = {}
        for resource, future in self.admin.describe_configs(
            resources, request_timeout=self.timeout_s
        ).items():
            try:
                entries = future.result(self.timeout_s + 1)
            except KafkaException:
                continue
            found[resource.name] = {
                name: entries[name].value for name in TOPIC_SETTINGS if name in entries
            }
            self._configs_read[resource.name] = now
        if found:
            self.store.write_topic_configs(found)


def _with_offsets(
    partitions: list[PartitionRow], earliest: Mapping, latest: Mapping, ends: Mapping
) -> list[PartitionRow]:
    return [
        replace(
            p,
            log_start=earliest.get((p.topic, p.partition)),
            high_watermark=latest.get((p.topic, p.partition)),
            log_ends=ends.get((p.topic, p.partition), ()),
        )
        for p in partitions
    ]


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


def _describe(exc: BaseException | KafkaError) -> str:
    arg = exc.args[0] if getattr(exc, "args", None) else exc
    return arg.str() if hasattr(arg, "str") else str(arg)
