"""The reader side of ``tweet-stats``: fold run results into exact totals.

Workers publish one result per run of a source partition (``consumers.runs``), keyed by that
partition. The topic can hold, for one (partition, first offset):

- a PARTIAL result (the run was still open when the partition went idle or was revoked)
  followed later by a longer one: the longer one SUPERSEDES it (the partial's contribution is
  subtracted exactly, the longer one's added);
- exact repeats after a crash (the new worker restarts from the committed offset, the first
  offset of a run, and cuts the same runs again): DUPLICATES, dropped; so is a partial that
  arrives after a longer result for the same range.

So ``StatsFolder.add`` returns ``"applied"``, ``"superseded"``, ``"duplicate"``, ``"invalid"``
(not a v1 result; counted in ``invalid``) or ``"overlap"``: a result that covers some offsets
of a held result with a DIFFERENT first offset cannot be folded exactly, so it is counted in
``overlaps`` and skipped. Workers cannot produce one: run boundaries depend only on the
partition's records (or were committed before anything after them was read: an idle
partition's closed run), and a worker only ever (re)starts at a committed offset, which is the
first offset of a run (never past it), so any two results either start at the same run
boundary or cover disjoint offsets. ``overlaps`` stays 0 unless a worker breaks that rule
(different ``MAX_RUN_TWEETS``, skipped offsets, committing mid-run).

The totals do not depend on the order the results arrive in, as long as every run's complete
result arrives at least once: each (partition, first offset) ends up holding its longest
result, whatever came before.

Memory: ``totals`` are exact however long the folder runs. Per partition it keeps each held
result's offset range (16 bytes per run, in two arrays) to recognise repeats, and the counts of
results that may still be superseded: a result is final once the held result after it starts
right after its last offset, so normally only the latest result per partition keeps its counts.
``per_window`` keeps the newest ``keep_windows`` windows when that is set; results for older
windows still count in ``totals``.
"""

from __future__ import annotations

import heapq
import json
import math
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from consumers.features import LABELS, WINDOW_MS
from consumers.runs import RESULT_VERSION

MINUTE_MS = 60_000
APPLIED, SUPERSEDED, DUPLICATE, INVALID, OVERLAP = (
    "applied",
    "superseded",
    "duplicate",
    "invalid",
    "overlap",
)
_COUNTERS = ("labels", "languages", "hashtags", "mentions", "authors")
_INTS = ("partition", "first_offset", "last_offset", "tweets", "malformed", "retweets", "replies")


@dataclass
class Counts:
    """Aggregates of some tweets. Counters never hold zero or negative entries."""

    tweets: int = 0
    malformed: int = 0
    retweets: int = 0
    replies: int = 0
    sentiment_sum: float = 0.0
    labels: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    hashtags: Counter[str] = field(default_factory=Counter)
    mentions: Counter[str] = field(default_factory=Counter)
    authors: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Counts:
        """The counts of one (valid) result dict."""
        return cls(
            result["tweets"],
            result["malformed"],
            result["retweets"],
            result["replies"],
            float(result["sentiment_sum"]),
            *(Counter({k: n for k, n in result[name].items() if n}) for name in _COUNTERS),
        )

    def add(self, other: Counts) -> None:
        self.tweets += other.tweets
        self.malformed += other.malformed
        self.retweets += other.retweets
        self.replies += other.replies
        self.sentiment_sum += other.sentiment_sum
        for name in _COUNTERS:
            getattr(self, name).update(getattr(other, name))

    def subtract(self, other: Counts) -> None:
        """Remove counts added earlier; entries that reach zero are deleted."""
        self.tweets = _less(self.tweets, other.tweets, "tweets")
        self.malformed = _less(self.malformed, other.malformed, "malformed")
        self.retweets = _less(self.retweets, other.retweets, "retweets")
        self.replies = _less(self.replies, other.replies, "replies")
        # Float sums are not exactly reversible; with no tweets left the sum is exactly 0.
        self.sentiment_sum = self.sentiment_sum - other.sentiment_sum if self.tweets else 0.0
        for name in _COUNTERS:
            mine = getattr(self, name)
            for key, n in getattr(other, name).items():
                left = _less(mine.get(key, 0), n, f"{name}[{key!r}]")
                if left:
                    mine[key] = left
                else:
                    del mine[key]

    def mean_sentiment(self) -> float:
        """Mean VADER compound score of the tweets; 0.0 (neutral) when there are none."""
        return self.sentiment_sum / self.tweets if self.tweets else 0.0

    def copy(self) -> Counts:
        copy = Counts()
        copy.add(self)
        return copy


def _less(have: int, take: int, what: str) -> int:
    if take > have:
        raise ValueError(f"cannot subtract {take} {what} from {have}: never added")
    return have - take


class _Partition:
    """The results held for one source partition: ranges sorted by first offset."""

    __slots__ = ("firsts", "lasts", "pending")

    def __init__(self) -> None:
        self.firsts = array("q")
        self.lasts = array("q")
        # first offset -> (window, counts) of held results that may still be superseded.
        self.pending: dict[int, tuple[int | None, Counts]] = {}

    def settle(self, index: int) -> None:
        """Forget the counts of the results at and before ``index`` that became final."""
        firsts, lasts = self.firsts, self.lasts
        if index + 1 < len(firsts) and firsts[index + 1] == lasts[index] + 1:
            self.pending.pop(firsts[index], None)
        if index > 0 and lasts[index - 1] + 1 == firsts[index]:
            self.pending.pop(firsts[index - 1], None)


class StatsFolder:
    """Exact totals from the results on ``tweet-stats``, whatever repeats they hold."""

    def __init__(self, keep_windows: int | None = None) -> None:
        if keep_windows is not None and keep_windows < 1:
            raise ValueError(f"keep_windows must be positive, got {keep_windows}")
        self.keep_windows = keep_windows
        self.totals = Counts()
        self.per_window: dict[int, Counts] = {}
        self.usernames: dict[str, str] = {}  # author_id -> the latest username seen
        self.applied = 0
        self.superseded = 0
        self.duplicates = 0
        self.invalid = 0
        self.overlaps = 0
        self.last_invalid: str | None = None  # why the latest invalid result was refused
        self._partitions: dict[int, _Partition] = {}
        self._pruned_below: int | None = None  # windows before this were dropped

    def add(self, record: bytes | str | Mapping[str, Any]) -> str:
        """Fold one result (a record value or its decoded dict); returns what happened."""
        if isinstance(record, bytes | bytearray | memoryview | str):
            try:
                result = json.loads(bytes(record) if not isinstance(record, str) else record)
            except ValueError as exc:
                return self._invalid(f"not JSON ({exc})")
        else:
            result = record
        problem = result_problem(result)
        if problem is not None:
            return self._invalid(problem)

        first, last = result["first_offset"], result["last_offset"]
        held = self._partitions.get(result["partition"])
        if held is None:
            held = self._partitions[result["partition"]] = _Partition()
        firsts, lasts = held.firsts, held.lasts
        i = bisect_right(firsts, first) - 1  # the held range starting at or before ``first``
        after = i + 1  # the held range starting after ``first``, if any
        if after < len(firsts) and firsts[after] <= last:
            self.overlaps += 1
            return OVERLAP
        if i >= 0 and firsts[i] == first:
            if last <= lasts[i]:
                self.duplicates += 1
                return DUPLICATE
            # A longer result for the same run: replace the shorter one. Its counts are still
            # held: a result only becomes final when the next held one starts right after it,
            # and that one would overlap this longer result (refused above).
            window, counts = held.pending[first]
            self._fold(window, counts, subtract=True)
            outcome = SUPERSEDED
            self.superseded += 1
        elif i >= 0 and lasts[i] >= first:
            self.overlaps += 1
            return OVERLAP
        else:
            i += 1
            firsts.insert(i, first)
            lasts.insert(i, first)
            outcome = APPLIED
            self.applied += 1
        lasts[i] = last
        window, counts = result["window_start_ms"], Counts.from_result(result)
        self._fold(window, counts)
        self.usernames.update(result["usernames"])
        held.pending[first] = (window, counts)
        held.settle(i)
        return outcome

    def _invalid(self, why: str) -> str:
        self.invalid += 1
        self.last_invalid = why
        return INVALID

    def _fold(self, window: int | None, counts: Counts, subtract: bool = False) -> None:
        if subtract:
            self.totals.subtract(counts)
        else:
            self.totals.add(counts)
        if window is None or (self._pruned_below is not None and window < self._pruned_below):
            return  # a malformed-only run has no window; pruned windows stay pruned
        slot = self.per_window.get(window)
        if subtract:
            assert slot is not None, f"window {window} was never folded"
            slot.subtract(counts)
            if not slot.tweets and not slot.malformed:
                del self.per_window[window]
            return
        if slot is None:
            slot = self.per_window[window] = Counts()
        slot.add(counts)
        if self.keep_windows is not None and len(self.per_window) > self.keep_windows:
            oldest = min(self.per_window)
            del self.per_window[oldest]
            self._pruned_below = oldest + 1

    def per_minute(self) -> dict[int, Counts]:
        """``per_window`` summed into minutes of tweet time, by minute start (epoch ms)."""
        minutes: dict[int, Counts] = {}
        for window in sorted(self.per_window):
            minute = window - window % MINUTE_MS
            slot = minutes.get(minute)
            if slot is None:
                slot = minutes[minute] = Counts()
            slot.add(self.per_window[window])
        return minutes

    def top_hashtags(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most used hashtags (lowercased), ties by name."""
        return heapq.nsmallest(n, self.totals.hashtags.items(), key=lambda kv: (-kv[1], kv[0]))

    def top_authors(self, n: int) -> list[tuple[str, str, int]]:
        """(author_id, username or "", tweets) of the ``n`` most active authors."""
        top = heapq.nsmallest(n, self.totals.authors.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(author, self.usernames.get(author, ""), n) for author, n in top]

    def mean_sentiment(self) -> float:
        """Mean VADER compound score of every tweet folded; 0.0 when there are none."""
        return self.totals.mean_sentiment()

    def tweets_per_second(self, last_n_seconds: int) -> list[tuple[int, int]]:
        """(second start ms, tweets) for the ``last_n_seconds`` seconds of tweet time up to the
        newest window held, oldest first, with 0 for seconds without tweets."""
        if not self.per_window or last_n_seconds < 1:
            return []
        newest = max(self.per_window)
        start = newest - (last_n_seconds - 1) * WINDOW_MS
        series = []
        for second in range(start, newest + 1, WINDOW_MS):
            slot = self.per_window.get(second)
            series.append((second, slot.tweets if slot is not None else 0))
        return series


def fold(records: Iterable[bytes | str | Mapping[str, Any]], **options: Any) -> StatsFolder:
    """A ``StatsFolder`` (``options`` are its parameters) with every record added."""
    folder = StatsFolder(**options)
    for record in records:
        folder.add(record)
    return folder


def result_problem(result: Any) -> str | None:
    """Why ``result`` is not a consistent v1 run result, or None if it is one."""
    if not isinstance(result, Mapping):
        return f"not an object but {type(result).__name__}"
    if _int(result.get("v")) != RESULT_VERSION:
        return f"not a v{RESULT_VERSION} result (v={result.get('v')!r})"
    for name in _INTS:
        if _int(result.get(name)) is None or result[name] < 0:
            return f"{name} is not a non-negative integer"
    size = result["last_offset"] - result["first_offset"] + 1
    if size < 1:
        return "last_offset is before first_offset"
    tweets = result["tweets"]
    if tweets + result["malformed"] != size:
        return f"tweets + malformed != {size} offsets"
    if result["retweets"] > tweets or result["replies"] > tweets:
        return "more retweets or replies than tweets"
    if result.get("window_ms") != WINDOW_MS or _int(result.get("window_ms")) is None:
        return f"window_ms is not {WINDOW_MS}"
    window = result.get("window_start_ms", ...)
    if window is None:
        if tweets:
            return "a window_start_ms is needed with tweets"
    elif _int(window) is None or window % WINDOW_MS:
        return "window_start_ms is not a window start"
    elif not tweets:
        return "window_start_ms must be null without tweets"
    total = result.get("sentiment_sum")
    if (
        isinstance(total, bool)
        or not isinstance(total, int | float)
        or not math.isfinite(total)
        or abs(total) > tweets + 1e-6
    ):
        return "sentiment_sum is not a plausible sum"
    for name in _COUNTERS:
        counter = result.get(name)
        if not isinstance(counter, Mapping) or not all(
            isinstance(k, str) and _int(n) is not None and n >= 0 for k, n in counter.items()
        ):
            return f"{name} is not a map of counts"
    if set(result["labels"]) - set(LABELS):
        return "labels has unknown labels"
    for name in ("labels", "languages", "authors"):
        if sum(result[name].values()) != tweets:
            return f"{name} do not add up to tweets"
    usernames = result.get("usernames")
    if not isinstance(usernames, Mapping) or not all(
        isinstance(k, str) and isinstance(u, str) for k, u in usernames.items()
    ):
        return "usernames is not a map of strings"
    return None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None
