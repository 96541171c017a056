"""Runs: maximal same-second sequences of consecutive offsets, capped, deterministic."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest

from chirpstream.tweets import parse_line
from consumers.features import analyze
from consumers.runs import (
    MAX_RUN_TWEETS,
    OffsetGap,
    Run,
    RunBuilder,
    split_into_runs,
)
from ingest.simulate import simulated_envelopes
from tests.unit.consumers.support import GARBAGE, START_MS, envelope

FIRST = 1000  # offsets start here, not at 0, to catch off-by-base mistakes
RESULT_KEYS = {
    "v",
    "partition",
    "first_offset",
    "last_offset",
    "window_start_ms",
    "window_ms",
    "tweets",
    "malformed",
    "retweets",
    "replies",
    "sentiment_sum",
    "labels",
    "languages",
    "hashtags",
    "mentions",
    "authors",
    "usernames",
}


def _stream(n: int = 1500, rate: float = 200.0, seed: int = 2) -> list[bytes]:
    return [e.raw for e in itertools.islice(simulated_envelopes(seed, START_MS, rate), n)]


def _expected_ranges(windows: list[int | None], first: int, cap: int) -> list[tuple[int, int]]:
    """(first, last) of each run, straight from the definition: a new run when a tweet's
    second differs from the run's, or when the run already holds ``cap`` records."""
    ranges: list[tuple[int, int]] = []
    start, window = first, None
    for i, w in enumerate(windows):
        offset = first + i
        size = offset - start
        if offset == first:
            window = w
            continue
        if size >= cap or (w is not None and window is not None and w != window):
            ranges.append((start, offset - 1))
            start, window = offset, w
        elif window is None:
            window = w
    ranges.append((start, first + len(windows) - 1))
    return ranges


def _windows(values: list[bytes]) -> list[int | None]:
    out: list[int | None] = []
    for raw in values:
        try:
            out.append(parse_line(raw).created_at_ms // 1000 * 1000)
        except ValueError:
            out.append(None)
    return out


def _check_cover(runs: list[Run], first: int, count: int) -> None:
    assert runs[0].first_offset == first
    assert runs[-1].last_offset == first + count - 1
    for before, after in itertools.pairwise(runs):
        assert after.first_offset == before.last_offset + 1
    assert sum(run.size for run in runs) == count
    assert all(run.size == run.tweets + run.malformed for run in runs)


def test_runs_are_maximal_same_second_sequences():
    values = _stream()
    windows = _windows(values)
    runs = split_into_runs(4, zip(itertools.count(FIRST), values, strict=False))
    _check_cover(runs, FIRST, len(values))
    assert [(r.first_offset, r.last_offset) for r in runs] == _expected_ranges(
        windows, FIRST, MAX_RUN_TWEETS
    )
    assert len(runs) == len(set(windows))  # the simulated stream is in time order
    for run in runs:
        inside = windows[run.first_offset - FIRST : run.last_offset - FIRST + 1]
        assert set(inside) == {run.window_start_ms}
        assert run.partition == 4 and run.key() == b"4"
    for before, after in itertools.pairwise(runs):  # maximal: neighbours differ in second
        assert before.window_start_ms != after.window_start_ms


def test_a_second_that_comes_back_starts_a_new_run():
    seconds = ["14:00:05", "14:00:05", "14:00:04", "14:00:05", "14:00:05"]
    values = [envelope(created_at=f"2026-11-25T{s}.500Z") for s in seconds]
    runs = split_into_runs(0, enumerate(values))
    assert [(r.first_offset, r.last_offset) for r in runs] == [(0, 1), (2, 2), (3, 4)]
    assert [r.window_start_ms for r in runs] == [START_MS + 5000, START_MS + 4000, START_MS + 5000]


@pytest.mark.parametrize("cap", [1, 2, 7, 50])
def test_the_cap_splits_long_runs_deterministically(cap):
    values = _stream(800)
    runs = split_into_runs(0, zip(itertools.count(FIRST), values, strict=False), max_records=cap)
    _check_cover(runs, FIRST, len(values))
    assert max(run.size for run in runs) <= cap
    assert [(r.first_offset, r.last_offset) for r in runs] == _expected_ranges(
        _windows(values), FIRST, cap
    )
    again = split_into_runs(0, zip(itertools.count(FIRST), values, strict=False), max_records=cap)
    assert [r.record() for r in runs] == [r.record() for r in again]


def test_the_default_cap_is_5000_records():
    assert MAX_RUN_TWEETS == 5000
    # 12,001 tweets within a few milliseconds: one second of tweet time.
    values = _stream(12_001, rate=5_000_000.0, seed=3)
    assert len(set(_windows(values))) == 1
    runs = split_into_runs(2, enumerate(values))
    assert [(r.first_offset, r.last_offset) for r in runs] == [
        (0, 4999),
        (5000, 9999),
        (10000, 12000),
    ]
    assert len({r.window_start_ms for r in runs}) == 1


def test_malformed_records_join_the_open_run():
    values = _stream(600)
    windows = _windows(values)
    boundary = windows.index(windows[0] + 1000)  # first tweet of the second second
    mixed = list(values)
    mixed.insert(boundary, GARBAGE[0])  # after the last tweet of second 0: joins its run
    mixed.insert(10, GARBAGE[1])  # inside the first run
    mixed.insert(0, GARBAGE[3])  # before any tweet: the first run has no window yet
    mixed.insert(0, GARBAGE[4])
    runs = split_into_runs(0, enumerate(mixed))
    _check_cover(runs, 0, len(mixed))
    assert [r.malformed for r in runs[:2]] == [4, 0]
    assert runs[0].window_start_ms == windows[0]
    assert runs[0].tweets == boundary
    assert runs[0].last_offset == boundary + 3  # the tweets, plus 4 malformed records
    assert sum(r.malformed for r in runs) == 4
    # Without the malformed records the runs hold the same tweets.
    plain = split_into_runs(0, enumerate(values))
    assert [r.tweets for r in runs] == [r.tweets for r in plain]
    assert [r.window_start_ms for r in runs] == [r.window_start_ms for r in plain]


def test_malformed_only_runs_have_no_window_and_respect_the_cap():
    values = [GARBAGE[i % len(GARBAGE)] for i in range(10)] + [envelope()]
    runs = split_into_runs(1, enumerate(values), max_records=4)
    assert [(r.first_offset, r.last_offset) for r in runs] == [(0, 3), (4, 7), (8, 10)]
    assert [r.window_start_ms for r in runs] == [None, None, START_MS]
    assert [(r.tweets, r.malformed) for r in runs] == [(0, 4), (0, 4), (1, 2)]
    result = json.loads(runs[0].record())
    assert result["window_start_ms"] is None and result["tweets"] == 0
    assert result["labels"] == {"positive": 0, "neutral": 0, "negative": 0}


def test_same_input_gives_byte_identical_records_and_restarts_at_a_boundary_agree():
    values = _stream(1200)
    values[300:300] = [GARBAGE[0], GARBAGE[2]]
    records = [r.record() for r in split_into_runs(3, enumerate(values), max_records=40)]
    assert records == [r.record() for r in split_into_runs(3, enumerate(values), max_records=40)]
    runs = split_into_runs(3, enumerate(values), max_records=40)
    # A worker restarting at any run's first offset cuts the same runs from there on.
    for index in range(0, len(runs), 5):
        start = runs[index].first_offset
        suffix = split_into_runs(
            3, zip(itertools.count(start), values[start:], strict=False), max_records=40
        )
        assert [r.record() for r in suffix] == records[index:]


def test_builder_feeds_incrementally_like_split_into_runs():
    values = _stream(500)
    builder = RunBuilder(0, 0, max_records=30)
    closed: list[bytes] = []
    for offset, raw in enumerate(values):
        closed.extend(r.record() for r in builder.feed(offset, raw))
        # The commit offset is the open run's first offset: never past it.
        assert builder.commit_offset == builder.open_run.first_offset <= offset
        # The open run published as a partial equals the run cut from the prefix alone.
        if offset % 37 == 0:
            prefix = split_into_runs(0, enumerate(values[: offset + 1]), max_records=30)
            assert builder.open_run.record() == prefix[-1].record()
            assert closed == [r.record() for r in prefix[:-1]]
    last = builder.flush()
    assert [*closed, last.record()] == [
        r.record() for r in split_into_runs(0, enumerate(values), max_records=30)
    ]
    assert builder.open_run is None and builder.commit_offset == len(values)


def test_a_tombstone_is_malformed():
    builder = RunBuilder(0)
    assert builder.feed(0, None) == []
    assert builder.open_run.malformed == 1


def test_offsets_must_be_consecutive():
    builder = RunBuilder(0, 10)
    with pytest.raises(OffsetGap):
        builder.feed(11, envelope())
    builder.feed(10, envelope())
    with pytest.raises(OffsetGap):
        builder.feed(12, envelope())
    with pytest.raises(OffsetGap):
        builder.feed(10, envelope())
    run = Run(0, 5)
    with pytest.raises(OffsetGap):
        run.add(6, analyze(envelope()))
    with pytest.raises(OffsetGap):
        run.add_malformed(4)
    with pytest.raises(OffsetGap):
        split_into_runs(0, [(0, envelope()), (2, envelope())])


def test_run_refuses_what_does_not_fit():
    run = Run(0, 0, max_records=2)
    tweet = analyze(envelope(created_at="2026-11-25T14:00:00.100Z"))
    later = analyze(envelope(created_at="2026-11-25T14:00:01.000Z"))
    assert run.accepts(tweet) and run.accepts(later)  # no window yet
    run.add(0, tweet)
    assert run.window_start_ms == START_MS
    assert not run.accepts(later)
    with pytest.raises(ValueError):
        run.add(1, later)
    run.add_malformed(1)
    assert run.full and not run.accepts(tweet)
    with pytest.raises(ValueError):
        run.add_malformed(2)
    with pytest.raises(ValueError):
        Run(0, 0).record()  # an empty run has no result
    fixed = Run(0, 0, START_MS + 1000)
    assert fixed.accepts(later) and not fixed.accepts(tweet)


def test_record_format_exactly():
    values = [
        envelope(
            "I love it #Chirp",
            tweet_id="1",
            author_id="42",
            username="Alice",
            created_at="2026-11-25T14:00:00.100Z",
            lang="en",
            hashtags=[(10, "Chirp")],
        ),
        GARBAGE[0],
        envelope(
            "RT @Alice: I hate it #chirp #Kafka",
            tweet_id="2",
            author_id="7",
            username="Bob",
            created_at="2026-11-25T14:00:00.900Z",
            lang="ja",
            hashtags=[(22, "chirp"), (29, "Kafka")],
            mentions=[(3, "Alice")],
            references=["retweeted"],
        ),
        envelope(
            "@Bob the table",
            tweet_id="3",
            author_id="42",
            username="Alice",
            created_at="2026-11-25T14:00:00.999Z",
            mentions=[(0, "Bob")],
            references=["replied_to"],
        ),
    ]
    (run,) = split_into_runs(5, zip(itertools.count(77), values, strict=False))
    expected = (
        '{"authors":{"42":2,"7":1},"first_offset":77,'
        '"hashtags":{"chirp":2,"kafka":1},'
        '"labels":{"negative":1,"neutral":1,"positive":1},'
        '"languages":{"en":2,"ja":1},"last_offset":80,"malformed":1,'
        '"mentions":{"alice":1,"bob":1},"partition":5,"replies":1,"retweets":1,'
        '"sentiment_sum":0.06500000000000006,"tweets":3,'
        '"usernames":{"42":"Alice","7":"Bob"},"v":1,'
        f'"window_ms":1000,"window_start_ms":{START_MS}}}'
    )
    assert run.record() == expected.encode()
    assert run.key() == b"5"
    result = json.loads(run.record())
    assert set(result) == RESULT_KEYS
    assert result["sentiment_sum"] == pytest.approx(0.6369 - 0.5719)


def test_records_are_utf8_json_with_every_field():
    values = _stream(400, seed=9)
    for run in split_into_runs(0, enumerate(values)):
        result = json.loads(run.record().decode("utf-8"))
        assert set(result) == RESULT_KEYS
        assert result["tweets"] == sum(result["authors"].values())
        assert result["tweets"] == sum(result["labels"].values())
        assert result["tweets"] == sum(result["languages"].values())
        tags = Counter(
            tag.lower()
            for raw in values[run.first_offset : run.last_offset + 1]
            for tag in parse_line(raw).hashtags
        )
        assert result["hashtags"] == dict(tags)


def test_feeding_features_or_values_gives_the_same_runs():
    values = _stream(300)
    values[20:20] = [GARBAGE[1]]
    by_value, by_features = RunBuilder(1, max_records=25), RunBuilder(1, max_records=25)
    for offset, raw in enumerate(values):
        try:
            features = analyze(raw)
        except ValueError:
            features = None
        closed = by_value.feed(offset, raw)
        assert [r.record() for r in by_features.feed(offset, features)] == [
            r.record() for r in closed
        ]
    assert by_value.open_run.record() == by_features.open_run.record()
    assert sum(r.malformed for r in split_into_runs(1, enumerate(values))) == 1
