"""The collector's reader of ``tweet-stats`` and ``__consumer_offsets``, on its own consumer.

It folds run results with ``StatsFolder`` into the store's analytics, and reads group
generations from ``__consumer_offsets``. Every read is bounded (``MAX_RECORDS`` records, a
time budget), so the collector's cluster sampler, on another thread, keeps its beat however
far behind this reader is.

Each result the fold drops as a repeat (a range read again after a crash before commit) is
written to the store's ``repeats``.

Besides the totals, it keeps per second of *production time* (the result record's timestamp,
when a worker produced it) the tweets analysed and their sentiment sum: that is what the
Analytics page plots, as simulated tweet time can run far ahead of the clock.

Checkpoint: every ``CHECKPOINT_S`` the folder, the per-second series, the generations and the
next offset of each partition read are saved in the store (pickled; the store is this
dashboard's own file). A restarted collector resumes from there instead of re-reading all of
``tweet-stats``. A checkpoint whose offsets the topics no longer hold (a topic recreated,
retention passed it) is dropped and everything is read again from the beginning.
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from chirpstream.settings import STATS_TOPIC
from consumers.fold import DUPLICATE, StatsFolder
from dashboard import clients
from dashboard.generations import OFFSETS_TOPIC, group_generation
from dashboard.rows import ResultSecond, WindowRow
from dashboard.store import KEEP_SECONDS, LABEL_COLUMNS, Store

TOPICS = (STATS_TOPIC, OFFSETS_TOPIC)
MAX_RECORDS = 20_000  # per read
CHECKPOINT_S = 10.0
DISCOVER_S = 5.0  # how often to look for new partitions
TOP_HASHTAGS = 10
TOP_AUTHORS = 10


@dataclass
class Progress:
    """What has been folded, and the next offset to read of each partition: the checkpoint."""

    folder: StatsFolder
    per_second: dict[int, list[float]] = field(default_factory=dict)  # ms -> [tweets, sum]
    generations: dict[str, int | None] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


class StatsReader:
    """Reads ``tweet-stats`` and ``__consumer_offsets`` into ``store``; see the module doc."""

    def __init__(
        self,
        config: Mapping[str, Any],
        store: Store,
        keep_seconds: float = KEEP_SECONDS,
        timeout_s: float = 3.0,
    ) -> None:
        self.store = store
        self.keep_ms = int(keep_seconds * 1000)
        self.timeout_s = timeout_s
        self.consumer = clients.reader(config)
        self.progress = self._restore(store.checkpoint())
        self.resumed = self.progress.offsets != {}  # until the first assignment checks them
        self._assigned: set[tuple[str, int]] = set()
        self._last_discover = float("-inf")
        self._last_checkpoint = time.monotonic()
        self._dirty = False
        self._closed = False

    def _fresh(self) -> Progress:
        return Progress(StatsFolder(keep_windows=self.keep_ms // 1000))

    def _restore(self, saved: bytes | None) -> Progress:
        """The checkpoint's progress; a fresh start (and no analytics) when there is none or
        it was written by a version of this code that no longer reads it."""
        if saved is not None:
            try:
                progress = pickle.loads(saved)
            except (pickle.UnpicklingError, AttributeError, ImportError, TypeError, EOFError):
                progress = None
            if isinstance(progress, Progress):
                return progress
            self.store.clear_analytics()
        return self._fresh()

    @property
    def generations(self) -> dict[str, int | None]:
        return self.progress.generations

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.consumer.close()

    # -- assignment ----------------------------------------------------------------------

    def discover(self) -> None:
        """Assign partitions of the topics read that are not assigned yet: from the
        checkpoint's offset when it has one (and the topic still holds it), else from the
        beginning."""
        self._last_discover = time.monotonic()
        try:
            metadata = self.consumer.list_topics(timeout=self.timeout_s)
        except KafkaException:
            return  # the sampler reports an unreachable cluster
        new = [
            (topic, p)
            for topic in TOPICS
            if topic in metadata.topics and metadata.topics[topic].error is None
            for p in metadata.topics[topic].partitions
            if (topic, p) not in self._assigned
        ]
        if not new:
            return
        if self.resumed:
            self.resumed = False
            if not self._checkpoint_holds():
                self.progress = self._fresh()
                self.store.clear_analytics()
        offsets = self.progress.offsets
        self.consumer.incremental_assign(
            [TopicPartition(t, p, offsets.get((t, p), OFFSET_BEGINNING)) for t, p in new]
        )
        self._assigned.update(new)

    def _checkpoint_holds(self) -> bool:
        """Whether every partition in the checkpoint still has its next offset in the log."""
        for (topic, p), offset in self.progress.offsets.items():
            try:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=self.timeout_s, cached=False
                )
            except KafkaException:
                return False
            if not low <= offset <= high:
                return False
        return True

    # -- reading -------------------------------------------------------------------------

    def read(self, budget_s: float, max_records: int = MAX_RECORDS) -> int:
        """Read for at most ``budget_s`` (waiting that long for a first record) and at most
        ``max_records``; write what changed to the store. Returns the records read."""
        if time.monotonic() - self._last_discover > DISCOVER_S:
            self.discover()
        if not self._assigned:
            time.sleep(min(budget_s, 0.2))
            return 0
        deadline = time.monotonic() + budget_s
        read = 0
        touched: set[int] = set()
        seconds: set[int] = set()
        repeats: list[tuple[int, int, int, int, int]] = []
        progress, folder = self.progress, self.progress.folder
        while read < max_records:
            left = deadline - time.monotonic()
            messages = self.consumer.consume(min(5000, max_records - read), timeout=max(left, 0))
            if not messages:
                break
            for msg in messages:
                if msg.error() is not None:
                    continue
                read += 1
                progress.offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
                if msg.topic() == OFFSETS_TOPIC:
                    found = group_generation(msg.key(), msg.value())
                    if found is not None:
                        progress.generations[found[0]] = found[1]
                    continue
                tweets, sentiment = folder.totals.tweets, folder.totals.sentiment_sum
                result = _decode(msg.value())
                outcome = folder.add(msg.value() if result is None else result)
                if outcome == DUPLICATE and result is not None:  # valid: the fold read it
                    first, last = result["first_offset"], result["last_offset"]
                    repeats.append(
                        (msg.timestamp()[1], result["partition"], first, last, result["tweets"])
                    )
                window = None if result is None else result.get("window_start_ms")
                if type(window) is int:
                    touched.add(window)
                second = msg.timestamp()[1] // 1000 * 1000
                slot = progress.per_second.setdefault(second, [0, 0.0])
                slot[0] += folder.totals.tweets - tweets
                slot[1] += folder.totals.sentiment_sum - sentiment
                seconds.add(second)
            if left <= 0:
                break
        if repeats:
            self.store.write_repeats(repeats)
        if touched or seconds:
            self._write(touched, seconds)
        self._dirty = self._dirty or read > 0
        if self._dirty and time.monotonic() - self._last_checkpoint > CHECKPOINT_S:
            self.save()
        return read

    def save(self) -> None:
        """Write the checkpoint now."""
        self.store.write_checkpoint(pickle.dumps(self.progress, pickle.HIGHEST_PROTOCOL))
        self._last_checkpoint = time.monotonic()
        self._dirty = False

    def _write(self, touched: set[int], seconds: set[int]) -> None:
        progress, folder = self.progress, self.progress.folder
        if progress.per_second:
            oldest = max(progress.per_second) - self.keep_ms
            for second in [s for s in progress.per_second if s < oldest]:
                del progress.per_second[second]
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
        results = [
            ResultSecond(s, int(progress.per_second[s][0]), progress.per_second[s][1])
            for s in sorted(seconds)
            if s in progress.per_second
        ]
        self.store.write_analytics(windows, totals, removed, results)


def _decode(value: bytes | None) -> dict[str, Any] | None:
    """A result record's JSON object, or None (the folder then counts it as invalid)."""
    try:
        result = json.loads(value or b"null")
    except ValueError:
        return None
    return result if isinstance(result, dict) else None
