"""Folding results: exact totals whatever crashes, partial results and repeats the topic holds."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.features import Features, window_start_ms
from consumers.fold import Counts, StatsFolder, fold, result_problem
from consumers.runs import MAX_RUN_TWEETS, Run, RunBuilder
from tests.support.examples import examples
from tests.unit.consumers.support import (
    START_MS,
    analysed,
    assert_counts_equal,
    expected_counts,
    interleave,
    simulate_worker,
)

KINDS = st.sampled_from(["partial", "commit", "crash", "revoke"])


def _runs(features, cap: int) -> list[Run]:
    runs = []
    for partition, part in enumerate(features):
        runs.extend(_split(partition, part, cap))
    return runs


def _range(run: Run) -> tuple[int, int]:
    return run.first_offset, run.last_offset


def _split(partition: int, part, cap: int) -> list[Run]:
    builder = RunBuilder(partition, 0, max_records=cap)
    runs: list[Run] = []
    for offset, f in enumerate(part):
        runs.extend(builder.feed_features(offset, f))
    runs.append(builder.flush())
    return runs


def _tweet(n: int = 0, *, second: int = 0, author: str = "42", tags=("kafka",)) -> Features:
    compound = (-0.5, 0.0, 0.25)[n % 3]
    return Features(
        tweet_id=str(1000 + n),
        author_id=author,
        username=f"user{author}",
        lang=("en", "ja")[n % 2],
        hashtags=tuple(tags),
        mentions=("bob",) if n % 4 == 0 else (),
        is_retweet=n % 5 == 0,
        is_reply=n % 7 == 0,
        created_at_ms=START_MS + second * 1000 + n % 1000,
        sentiment=compound,
        label=("negative", "neutral", "positive")[n % 3],
    )


def _result(partition: int, first: int, tweets: int, *, malformed: int = 0, second: int = 0,
            author: str = "42", tags=("kafka",)) -> bytes:  # fmt: skip
    run = Run(partition, first)
    offset = first
    for _ in range(malformed):
        run.add_malformed(offset)
        offset += 1
    for n in range(tweets):
        run.add(offset, _tweet(n, second=second, author=author, tags=tags))
        offset += 1
    return run.record()


def _everything(features) -> Counts:
    return expected_counts(itertools.chain.from_iterable(features))


def _without_malformed(counts: Counts) -> Counts:
    copy = counts.copy()
    copy.malformed = 0
    return copy


def _sum(counts) -> Counts:
    total = Counts()
    for c in counts:
        total.add(c)
    return total


@settings(
    max_examples=examples(15, 40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    cap=st.sampled_from([MAX_RUN_TWEETS, 40, 3]),
    order=st.randoms(use_true_random=False),
)
def test_fold_is_exact_after_crashes_partials_and_repeats(data, cap, order):
    features = analysed()
    streams = []
    for partition, part in enumerate(features):
        plan = data.draw(
            st.lists(st.tuples(st.integers(0, 2 * len(part)), KINDS), max_size=12),
            label=f"events of partition {partition}",
        )
        events: dict[int, list[str]] = {}
        for step, kind in plan:
            events.setdefault(step, []).append(kind)

        def restart(opportunities: list[int]) -> int:
            return opportunities[data.draw(st.integers(0, len(opportunities) - 1))]

        streams.append(simulate_worker(partition, part, events, restart, cap))
    published = interleave(streams, order)  # keyed by source partition: its order is kept

    folder = fold(published)
    assert_counts_equal(folder.totals, _everything(features))
    assert (folder.invalid, folder.overlaps) == (0, 0)
    runs = _runs(features, cap)
    assert folder.applied == len(runs)  # every run once, the repeats and partials dropped
    assert folder.applied + folder.superseded + folder.duplicates == len(published)

    # Each second holds exactly its tweets; the minutes add up to the totals.
    by_window: dict[int, list[Features]] = {}
    for f in itertools.chain.from_iterable(features):
        if f is not None:
            by_window.setdefault(window_start_ms(f.created_at_ms), []).append(f)
    assert set(folder.per_window) == set(by_window)
    for window, tweets in by_window.items():
        assert_counts_equal(_without_malformed(folder.per_window[window]), expected_counts(tweets))
    windowless = sum(r.malformed for r in runs if r.window_start_ms is None)
    minutes = _sum(folder.per_minute().values())
    minutes.malformed += windowless
    assert_counts_equal(minutes, folder.totals)

    # Folding the same records again, or twice over, gives the same totals, exactly.
    assert fold(published).totals == folder.totals
    assert fold(published + published).totals == folder.totals


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), cap=st.sampled_from([MAX_RUN_TWEETS, 3]))
def test_fold_is_exact_in_any_order(seed, cap):
    """Even with per-partition order lost, every (partition, first offset) ends up holding its
    longest result: partials, full runs and repeats in a full shuffle still fold exactly."""
    features = analysed()
    rng = random.Random(seed)
    published = []
    for partition, part in enumerate(features):
        for run in _split(partition, part, cap):
            published.append(run.record())
            if rng.random() < 0.5:  # a partial of this run: a prefix of it
                partial = Run(partition, run.first_offset, max_records=cap)
                for offset in range(run.first_offset, rng.randint(*_range(run)) + 1):
                    if part[offset] is None:
                        partial.add_malformed(offset)
                    else:
                        partial.add(offset, part[offset])
                published.append(partial.record())
            if rng.random() < 0.3:
                published.append(run.record())
    rng.shuffle(published)
    folder = fold(published)
    assert_counts_equal(folder.totals, _everything(features))
    assert (folder.invalid, folder.overlaps) == (0, 0)


def test_partial_then_longer_supersedes_and_repeats_are_duplicates():
    folder = StatsFolder()
    assert folder.add(_result(0, 10, 4)) == "applied"
    assert folder.add(_result(0, 10, 9)) == "superseded"
    assert folder.add(_result(0, 10, 4)) == "duplicate"  # a late partial: shorter than held
    assert folder.add(_result(0, 10, 9)) == "duplicate"  # an exact repeat after a crash
    assert folder.add(json.loads(_result(0, 19, 3, second=1))) == "applied"  # a dict works too
    assert folder.add(_result(1, 10, 2)) == "applied"  # another partition, same offsets
    assert (folder.applied, folder.superseded, folder.duplicates) == (3, 1, 2)
    expected = [_tweet(n) for n in range(9)] + [_tweet(n, second=1) for n in range(3)]
    expected += [_tweet(n) for n in range(2)]
    assert_counts_equal(folder.totals, expected_counts(expected))
    assert folder.per_window[START_MS].tweets == 11
    assert folder.per_window[START_MS + 1000].tweets == 3


def test_superseding_subtracts_exactly_and_leaves_no_empty_entries():
    folder = StatsFolder()
    # A partial holding only malformed records (no window), then the run with its tweets.
    folder.add(_result(2, 0, 0, malformed=2, author="9", tags=("gone",)))
    assert folder.totals.malformed == 2 and folder.per_window == {}
    folder.add(_result(2, 0, 0, malformed=3))
    assert folder.add(_result(2, 0, 5, malformed=3, author="9", tags=("x", "y"))) == "superseded"
    assert folder.totals.malformed == 3 and folder.totals.tweets == 5
    # A partial with an author and tag that the longer result replaces entirely.
    folder.add(_result(3, 0, 1, author="77", tags=("once",)))
    assert folder.totals.hashtags["once"] == 1
    superseding = json.loads(_result(3, 0, 2, author="77", tags=("once",)))
    assert folder.add(superseding) == "superseded"
    assert folder.totals.hashtags["once"] == 2 and folder.totals.authors["77"] == 2
    totals = folder.totals
    for counter in (totals.labels, totals.languages, totals.hashtags, totals.mentions):
        assert all(n > 0 for n in counter.values())
    assert dict(totals.authors) == {"9": 5, "77": 2}
    assert dict(totals.hashtags) == {"x": 5, "y": 5, "once": 2}


def test_counts_subtract_deletes_zeros_and_refuses_to_go_negative():
    a = Counts.from_result(json.loads(_result(0, 0, 6)))
    b = a.copy()
    b.subtract(a)
    assert b == Counts()
    assert all(not getattr(b, name) for name in ("labels", "languages", "hashtags", "authors"))
    with pytest.raises(ValueError):
        b.subtract(a)
    c = Counts.from_result(json.loads(_result(0, 0, 3, author="1")))
    c.add(Counts.from_result(json.loads(_result(0, 0, 3, author="2"))))
    c.subtract(Counts.from_result(json.loads(_result(0, 0, 3, author="1"))))
    assert dict(c.authors) == {"2": 3}


def test_overlapping_results_are_counted_and_skipped():
    folder = StatsFolder()
    assert folder.add(_result(0, 10, 11)) == "applied"  # 10..20
    totals = folder.totals.copy()
    for first, tweets in [(15, 11), (5, 8), (12, 3), (5, 30), (0, 11)]:  # 15..25, 5..12, ...
        assert folder.add(_result(0, first, tweets)) == "overlap"
    assert folder.overlaps == 5
    assert folder.totals == totals
    assert folder.add(_result(0, 21, 5, second=1)) == "applied"  # right after: fine
    assert folder.add(_result(0, 0, 10, second=2)) == "applied"  # right before: fine
    # A longer result for 10..20 would now overlap 21..25: impossible from a worker.
    assert folder.add(_result(0, 10, 12)) == "overlap"
    assert folder.totals.tweets == 26


def test_runs_cut_with_another_cap_overlap():
    features = analysed()[0][:300]
    folder = fold(run.record() for run in _split(0, features, 7))
    totals = folder.totals.copy()
    for run in _split(0, features, 5):
        folder.add(run.record())
    assert folder.overlaps > 0
    assert folder.totals == totals
    assert_counts_equal(totals, expected_counts(features))


def _valid() -> dict:
    return json.loads(_result(0, 3, 4, malformed=1))


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": True},
        {"v": "1"},
        {"partition": -1},
        {"partition": 1.0},
        {"first_offset": None},
        {"last_offset": 2},
        {"tweets": 5},
        {"malformed": 0},
        {"retweets": 9},
        {"window_ms": 500},
        {"window_start_ms": START_MS + 1},
        {"window_start_ms": None},
        {"window_start_ms": "now"},
        {"sentiment_sum": float("nan")},
        {"sentiment_sum": 17.0},
        {"sentiment_sum": "0.1"},
        {"labels": {"positive": 4, "meh": 0}},
        {"labels": {"positive": 3}},
        {"languages": {"en": 3}},
        {"languages": ["en"]},
        {"authors": {"42": 4.0}},
        {"hashtags": {"x": -1}},
        {"usernames": {"42": 7}},
    ],
)
def test_invalid_results_are_counted_and_ignored(change):
    result = _valid()
    assert result_problem(result) is None
    result.update(change)
    folder = StatsFolder()
    assert result_problem(result) is not None
    assert folder.add(result) == "invalid"
    assert folder.add(json.dumps(result).encode()) == "invalid"
    assert folder.invalid == 2 and folder.last_invalid
    assert folder.totals == Counts() and folder.per_window == {}


@pytest.mark.parametrize("record", [b"", b"not json", b"[1]", b"null", b"\xff", "{}", 7, None])
def test_not_results_are_invalid(record):
    folder = StatsFolder()
    assert folder.add(record) == "invalid"
    assert folder.invalid == 1
    missing = _valid()
    del missing["usernames"]
    assert folder.add(missing) == "invalid"


def test_a_malformed_only_result_is_valid_without_a_window():
    folder = StatsFolder()
    assert folder.add(_result(0, 0, 0, malformed=4)) == "applied"
    assert folder.totals.malformed == 4 and folder.per_window == {}


def test_keep_windows_bounds_per_window_and_keeps_totals_exact():
    features = analysed()
    published = [run.record() for run in _runs(features, 40)]
    full = fold(published)
    pruned = fold(published, keep_windows=3)
    assert len(full.per_window) > 10
    assert sorted(pruned.per_window) == sorted(full.per_window)[-3:]
    assert pruned.totals == full.totals
    for window in pruned.per_window:
        assert pruned.per_window[window] == full.per_window[window]


def test_superseding_a_pruned_window_does_not_bring_it_back():
    folder = StatsFolder(keep_windows=1)
    folder.add(_result(0, 0, 2, second=0))  # a partial
    folder.add(_result(1, 0, 3, second=5))  # a newer window pushes second 0 out
    assert list(folder.per_window) == [START_MS + 5000]
    assert folder.add(_result(0, 0, 4, second=0)) == "superseded"
    assert list(folder.per_window) == [START_MS + 5000]
    assert folder.totals.tweets == 7
    assert folder.add(_result(2, 0, 1, second=1)) == "applied"  # older than kept: totals only
    assert list(folder.per_window) == [START_MS + 5000]
    assert folder.totals.tweets == 8


def test_helpers():
    folder = StatsFolder()
    assert folder.tweets_per_second(5) == [] and folder.mean_sentiment() == 0.0
    folder.add(_result(0, 0, 3, second=0, author="1", tags=("b", "a")))
    folder.add(_result(0, 3, 1, second=2, author="2", tags=("c",)))
    folder.add(_result(1, 0, 3, second=62, author="2", tags=("a",)))
    assert folder.tweets_per_second(4) == [
        (START_MS + 59_000, 0),
        (START_MS + 60_000, 0),
        (START_MS + 61_000, 0),
        (START_MS + 62_000, 3),
    ]
    assert folder.tweets_per_second(64)[:3] == [
        (START_MS - 1000, 0),
        (START_MS, 3),
        (START_MS + 1000, 0),
    ]
    minutes = folder.per_minute()
    assert {m: c.tweets for m, c in minutes.items()} == {START_MS: 4, START_MS + 60_000: 3}
    assert folder.top_hashtags(2) == [("a", 6), ("b", 3)]
    assert folder.top_hashtags(10) == [("a", 6), ("b", 3), ("c", 1)]
    assert folder.top_authors(1) == [("2", "user2", 4)]
    assert folder.top_authors(5) == [("2", "user2", 4), ("1", "user1", 3)]
    sentiments = [_tweet(n).sentiment for n in (0, 1, 2, 0, 0, 1, 2)]
    assert folder.mean_sentiment() == pytest.approx(sum(sentiments) / 7)
    assert folder.totals.labels == Counter(negative=3, neutral=2, positive=2)
