"""Hand-made envelopes, a seeded partitioned stream, a simulated worker that crashes, and the
expected totals computed straight from the tweets (without runs or folding)."""

from __future__ import annotations

import functools
import itertools
import json
import math
import random
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chirpstream.tweets import MalformedTweet
from consumers.features import Features, analyze
from consumers.fold import Counts
from consumers.runs import MAX_RUN_TWEETS, RunBuilder
from ingest.simulate import simulated_envelopes

START_MS = 1_795_615_200_000  # 2026-11-25T14:00:00Z
SEED = 11
PARTITIONS = 3
STREAM_TWEETS = 3000

# Malformed record values as they can reach the topic.
GARBAGE = (
    b"not json at all",
    b'{"data": {"id": "1", "author_id": "2", "text": "no date"}}',
    b'{"matching_rules": []}',
    b"\xff\xfe",
    b"",
)


def envelope(
    text: str = "hello world",
    *,
    tweet_id: str = "1866000000000000100",
    author_id: str = "42",
    username: str | None = "Alice_42",
    created_at: str = "2026-11-25T14:00:00.250Z",
    lang: str | None = "en",
    hashtags: Sequence[tuple[int, str]] = (),
    mentions: Sequence[tuple[int, str]] = (),
    references: Sequence[str] = (),
) -> bytes:
    """One X v2 envelope; ``hashtags``/``mentions`` are (start, text) entity pairs."""
    data: dict[str, Any] = {
        "id": tweet_id,
        "text": text,
        "author_id": author_id,
        "created_at": created_at,
    }
    if lang is not None:
        data["lang"] = lang
    entities: dict[str, Any] = {}
    if hashtags:
        entities["hashtags"] = [
            {"start": s, "end": s + 1 + len(tag), "tag": tag} for s, tag in hashtags
        ]
    if mentions:
        entities["mentions"] = [
            {"start": s, "end": s + 1 + len(name), "username": name, "id": "7"}
            for s, name in mentions
        ]
    if entities:
        data["entities"] = entities
    if references:
        data["referenced_tweets"] = [{"type": kind, "id": "99"} for kind in references]
    users = [] if username is None else [{"id": author_id, "username": username, "name": "A"}]
    return json.dumps({"data": data, "includes": {"users": users}}).encode()


@functools.cache
def partitioned_stream(
    seed: int = SEED, tweets: int = STREAM_TWEETS, partitions: int = PARTITIONS
) -> tuple[tuple[bytes, ...], ...]:
    """Simulated tweets keyed by author over ``partitions`` partitions (as ingest keys them),
    with malformed records mixed in: a few single ones and, in partition 1, a stretch of 12."""
    values: list[list[bytes]] = [[] for _ in range(partitions)]
    stream = itertools.islice(simulated_envelopes(seed, START_MS, 200.0), tweets)
    for n, env in enumerate(stream):
        target = values[zlib.crc32(env.author_id.encode()) % partitions]
        if n % 97 == 5:
            target.append(GARBAGE[n % len(GARBAGE)])
        target.append(env.raw)
    values[1][40:40] = [GARBAGE[0]] * 12
    values[0].insert(0, GARBAGE[3])  # a partition that starts with a malformed record
    return tuple(tuple(v) for v in values)


@functools.cache
def analysed(
    seed: int = SEED, tweets: int = STREAM_TWEETS
) -> tuple[tuple[Features | None, ...], ...]:
    """``partitioned_stream`` analysed once per record (None: malformed)."""
    return tuple(tuple(_analyse(raw) for raw in part) for part in partitioned_stream(seed, tweets))


def _analyse(raw: bytes) -> Features | None:
    try:
        return analyze(raw)
    except MalformedTweet:
        return None


def expected_counts(features: Iterable[Features | None]) -> Counts:
    """Totals from the tweets themselves, each counted once, without runs or folding."""
    counts = Counts()
    sentiments = []
    for f in features:
        if f is None:
            counts.malformed += 1
            continue
        counts.tweets += 1
        counts.retweets += f.is_retweet
        counts.replies += f.is_reply
        sentiments.append(f.sentiment)
        counts.labels[f.label] += 1
        counts.languages[f.lang] += 1
        counts.hashtags.update(f.hashtags)
        counts.mentions.update(f.mentions)
        counts.authors[f.author_id] += 1
    counts.sentiment_sum = math.fsum(sentiments)
    return counts


def assert_counts_equal(actual: Counts, expected: Counts, tolerance: float = 1e-9) -> None:
    assert abs(actual.sentiment_sum - expected.sentiment_sum) <= tolerance, (
        actual.sentiment_sum,
        expected.sentiment_sum,
    )
    for name in ("tweets", "malformed", "retweets", "replies"):
        assert getattr(actual, name) == getattr(expected, name), name
    for name in ("labels", "languages", "hashtags", "mentions", "authors"):
        counter: Counter = getattr(actual, name)
        assert all(n > 0 for n in counter.values()), f"{name} keeps zero or negative entries"
        assert dict(counter) == dict(getattr(expected, name)), name


def simulate_worker(
    partition: int,
    features: Sequence[Features | None],
    events: dict[int, list[str]],
    choose_restart: Callable[[list[int]], int],
    max_records: int = MAX_RUN_TWEETS,
) -> list[bytes]:
    """What one worker (and its successors) publish for one partition, with failures.

    At step ``s`` (records fed so far, rereads included) the ``events[s]`` happen in order:
    ``partial`` publishes the open run; ``commit`` commits its first offset; ``revoke``
    publishes the partial, commits and hands over to a fresh worker; ``crash`` drops all state
    and restarts at a committed offset: ``choose_restart`` picks one of every commit
    opportunity so far (an older one models lost commits). At the end the partition goes idle
    and the open run is published as a partial.
    """
    published: list[bytes] = []
    opportunities = [0]
    committed = 0
    builder = RunBuilder(partition, 0, max_records=max_records)
    offset, step = 0, 0
    while offset < len(features):
        for run in builder.feed_features(offset, features[offset]):
            published.append(run.record())
        offset += 1
        opportunities.append(builder.commit_offset)
        for kind in events.get(step, ()):
            if kind in ("partial", "revoke"):
                published.append(builder.open_run.record())
            if kind in ("commit", "revoke"):
                committed = builder.commit_offset
            if kind == "crash":
                committed = choose_restart(opportunities)
            if kind in ("crash", "revoke"):
                builder = RunBuilder(partition, committed, max_records=max_records)
                offset = committed
                break
        step += 1
    if builder.open_run is not None:
        published.append(builder.open_run.record())
    return published


def interleave(streams: Sequence[Sequence[bytes]], rng: random.Random) -> list[bytes]:
    """Merge the streams in a random order that keeps each stream's own order."""
    positions = [0] * len(streams)
    live = [i for i, s in enumerate(streams) if s]
    merged: list[bytes] = []
    while live:
        i = rng.choice(live)
        merged.append(streams[i][positions[i]])
        positions[i] += 1
        if positions[i] == len(streams[i]):
            live.remove(i)
    return merged
