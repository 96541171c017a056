"""Runs: how a worker cuts one source partition into results that are the same after a crash.

A RUN is a maximal sequence of consecutive offsets of one partition of ``tweets`` whose tweets
fall in the same window of tweet time (``created_at`` floored to ``WINDOW_MS``), capped at
``MAX_RUN_TWEETS`` records. Malformed records (``analyze`` raised ``MalformedTweet``) belong to
the run open when they arrive: they are counted in ``malformed`` and do not change its window.
A run that holds only malformed records so far has no window (``None``) and takes the window
of its first tweet.

Where a run ends depends only on the partition's records from the run's first offset on, never
on timing, batching or what the worker did before (one exception below). So a worker that
commits the first offset of its open run (never past it) and restarts there after a crash cuts
exactly the same runs again, and its results repeat earlier ones byte for byte
(``Run.record()`` is canonical JSON). The reader (``consumers.fold``) drops the repeats and
lets a longer result for the same (partition, first offset) replace a partial one.

The exception is the worker's, not the data's: a partition that stays idle has its open run
closed (``RunBuilder.flush``) so its lag can reach 0. The worker commits the offset after that
run before it closes it, so no worker ever starts inside it again, and runs cut from there on
again depend only on the records.

``RunBuilder`` is the one implementation: the worker feeds it records as they arrive and
publishes what ``feed`` returns; ``split_into_runs`` is the same builder over a finite list.

Offsets must be consecutive: ``OffsetGap`` is raised otherwise. A Kafka partition only skips
offsets when it is compacted or holds aborted transactional records (or their markers); the
``tweets`` topic is not compacted, ingest does not write transactions, and the bundled broker
produces neither, so a gap means the worker skipped records, which would make runs differ
between incarnations.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from chirpstream.tweets import MalformedTweet
from consumers.features import LABELS, WINDOW_MS, Features, analyze
from consumers.features import window_start_ms as window_of

RESULT_VERSION = 1
# The cap on a run's size, in records (offsets: tweets and malformed records alike). It keeps a
# burst or a long malformed stretch from holding a run (and the commit) open for long. It is
# part of the result format: every worker must cut with the same cap.
MAX_RUN_TWEETS = 5000


class OffsetGap(ValueError):
    """A record whose offset does not follow the previous one in the same run or builder."""


class Run:
    """The aggregates of one run of one source partition, built record by record."""

    __slots__ = (
        "authors",
        "first_offset",
        "hashtags",
        "labels",
        "languages",
        "malformed",
        "max_records",
        "mentions",
        "partition",
        "replies",
        "retweets",
        "sentiment_sum",
        "size",
        "tweets",
        "usernames",
        "window_start_ms",
    )

    def __init__(
        self,
        partition: int,
        first_offset: int,
        window_start_ms: int | None = None,
        *,
        max_records: int = MAX_RUN_TWEETS,
    ) -> None:
        if partition < 0 or first_offset < 0:
            raise ValueError(f"bad partition {partition} or offset {first_offset}")
        if max_records < 1:
            raise ValueError(f"max_records must be positive, got {max_records}")
        self.partition = partition
        self.first_offset = first_offset
        self.window_start_ms = window_start_ms
        self.max_records = max_records
        self.size = 0  # offsets covered: tweets + malformed
        self.tweets = 0
        self.malformed = 0
        self.retweets = 0
        self.replies = 0
        self.sentiment_sum = 0.0
        self.labels: Counter[str] = Counter()
        self.languages: Counter[str] = Counter()
        self.hashtags: Counter[str] = Counter()
        self.mentions: Counter[str] = Counter()
        self.authors: Counter[str] = Counter()
        self.usernames: dict[str, str] = {}

    @property
    def last_offset(self) -> int:
        """The last offset covered (``first_offset - 1`` while the run is empty)."""
        return self.first_offset + self.size - 1

    @property
    def next_offset(self) -> int:
        return self.first_offset + self.size

    @property
    def full(self) -> bool:
        return self.size >= self.max_records

    def accepts(self, features: Features) -> bool:
        """Whether the tweet extends this run: same window (or none yet) and under the cap."""
        if self.size >= self.max_records:
            return False
        return self.window_start_ms is None or self.window_start_ms == window_of(
            features.created_at_ms
        )

    def add(self, offset: int, features: Features) -> None:
        self._check_offset(offset)
        if not self.accepts(features):
            raise ValueError(
                f"offset {offset}: tweet does not fit run {self.partition}/{self.first_offset}"
                f" (window {self.window_start_ms}, {self.size}/{self.max_records} records)"
            )
        if self.window_start_ms is None:
            self.window_start_ms = window_of(features.created_at_ms)
        self.size += 1
        self.tweets += 1
        if features.is_retweet:
            self.retweets += 1
        if features.is_reply:
            self.replies += 1
        self.sentiment_sum += features.sentiment
        self.labels[features.label] += 1
        self.languages[features.lang] += 1
        self.hashtags.update(features.hashtags)
        self.mentions.update(features.mentions)
        self.authors[features.author_id] += 1
        if features.username:
            self.usernames[features.author_id] = features.username

    def add_malformed(self, offset: int) -> None:
        self._check_offset(offset)
        if self.size >= self.max_records:
            raise ValueError(f"offset {offset}: run {self.partition}/{self.first_offset} is full")
        self.size += 1
        self.malformed += 1

    def _check_offset(self, offset: int) -> None:
        if offset != self.first_offset + self.size:
            raise OffsetGap(
                f"partition {self.partition}: offset {offset} after {self.last_offset}"
                f" (run from {self.first_offset}); runs need consecutive offsets"
            )

    def as_dict(self) -> dict[str, Any]:
        if self.size == 0:
            raise ValueError(f"run {self.partition}/{self.first_offset} is empty")
        return {
            "v": RESULT_VERSION,
            "partition": self.partition,
            "first_offset": self.first_offset,
            "last_offset": self.last_offset,
            "window_start_ms": self.window_start_ms,
            "window_ms": WINDOW_MS,
            "tweets": self.tweets,
            "malformed": self.malformed,
            "retweets": self.retweets,
            "replies": self.replies,
            "sentiment_sum": self.sentiment_sum,
            "labels": {label: self.labels[label] for label in LABELS},
            "languages": dict(self.languages),
            "hashtags": dict(self.hashtags),
            "mentions": dict(self.mentions),
            "authors": dict(self.authors),
            "usernames": dict(self.usernames),
        }

    def record(self) -> bytes:
        """The result record value: canonical JSON (compact, sorted keys, UTF-8)."""
        return encode_result(self.as_dict())

    def key(self) -> bytes:
        """The result record key: the source partition, so its results stay in order."""
        return str(self.partition).encode()

    def __repr__(self) -> str:
        return (
            f"Run(partition={self.partition}, offsets={self.first_offset}..{self.last_offset},"
            f" window_start_ms={self.window_start_ms}, tweets={self.tweets},"
            f" malformed={self.malformed})"
        )


def encode_result(result: dict[str, Any]) -> bytes:
    return json.dumps(
        result, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


class RunBuilder:
    """Cuts one partition into runs as its records arrive, one record at a time.

    ``feed`` returns the runs it closed (at most one) for the worker to publish. ``open_run``
    is the run still growing: publish ``open_run.record()`` as a partial result when the
    partition goes idle or is revoked, and commit ``commit_offset`` (its first offset), never
    more. After a crash or a reassignment, a new builder fed from the committed offset cuts
    the same runs again.
    """

    def __init__(
        self, partition: int, next_offset: int | None = None, *, max_records: int = MAX_RUN_TWEETS
    ) -> None:
        self.partition = partition
        self.max_records = max_records
        self.next_offset = next_offset  # None: whatever the first record's offset is
        self.open_run: Run | None = None

    @property
    def commit_offset(self) -> int | None:
        """The offset to commit: the open run's first, else the next offset expected."""
        if self.open_run is not None:
            return self.open_run.first_offset
        return self.next_offset

    def feed(self, offset: int, value: bytes | Features | None) -> list[Run]:
        """Add one record; return the runs it closed.

        ``value`` is the record value (analysed here; a malformed one or ``None``, a
        tombstone, counts as malformed) or, for a worker that analysed it already (to
        dead-letter malformed records), its ``Features``.
        """
        if isinstance(value, Features):
            return self.feed_features(offset, value)
        try:
            features = analyze(value)  # type: ignore[arg-type]
        except MalformedTweet:
            features = None
        return self.feed_features(offset, features)

    def feed_features(self, offset: int, features: Features | None) -> list[Run]:
        """``feed`` for a record already analysed (``None``: malformed)."""
        if self.next_offset is not None and offset != self.next_offset:
            raise OffsetGap(
                f"partition {self.partition}: offset {offset}, expected {self.next_offset};"
                " runs need consecutive offsets"
            )
        closed: list[Run] = []
        run = self.open_run
        if run is not None and (run.full if features is None else not run.accepts(features)):
            closed.append(run)
            run = None
        if run is None:
            run = self.open_run = Run(self.partition, offset, max_records=self.max_records)
        if features is None:
            run.add_malformed(offset)
        else:
            run.add(offset, features)
        self.next_offset = offset + 1
        return closed

    def flush(self) -> Run | None:
        """Close and return the open run (the end of a finite input); None if there is none."""
        run, self.open_run = self.open_run, None
        return run


def split_into_runs(
    partition: int,
    records: Iterable[tuple[int, bytes | None]],
    *,
    max_records: int = MAX_RUN_TWEETS,
) -> list[Run]:
    """Every run of ``records`` ((offset, value) in offset order), the last one included."""
    builder = RunBuilder(partition, max_records=max_records)
    runs: list[Run] = []
    for offset, raw in records:
        runs.extend(builder.feed(offset, raw))
    last = builder.flush()
    if last is not None:
        runs.append(last)
    return runs
