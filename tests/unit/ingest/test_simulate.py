"""The simulated source: X v2 envelope shape, exact entity indices, determinism, traffic model."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chirpstream.tweets import parse_line
from ingest.sim_pools import LANG_CODES
from ingest.simulate import (
    SNOWFLAKE_EPOCH_MS,
    SimulatedSource,
    simulated_envelopes,
)
from tests.support.examples import examples

ROOT = Path(__file__).resolve().parents[3]
START_MS = 1_795_615_200_000  # 2026-11-25T14:00:00Z
METRICS = {
    "retweet_count",
    "reply_count",
    "like_count",
    "quote_count",
    "bookmark_count",
    "impression_count",
}


class FakeClock:
    """``time`` as the sources use it, with sleeps that only move the clock forward."""

    def __init__(self, now: float = START_MS / 1000) -> None:
        self.now = now
        self.mono = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = None

    def time(self) -> float:
        return self.now + (self.mono - 1000.0)

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.mono += seconds
        if self.on_sleep is not None:
            self.on_sleep()


def exact_ms(created_at: str) -> int:
    """created_at in epoch ms with integer arithmetic (no float rounding)."""
    moment = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def take(seed: int, count: int, start_ms: int = START_MS, rate: float = 50.0) -> list:
    return list(itertools.islice(simulated_envelopes(seed, start_ms, rate), count))


def check_stream(envelopes: list, start_ms: int) -> Counter:
    """Every invariant one simulated stream must hold; returns the kinds seen."""
    kinds: Counter = Counter()
    seen_ids: set[str] = set()
    conversations: set[str] = set()
    previous_id, previous_ms = 0, start_ms
    for envelope in envelopes:
        document = json.loads(envelope.raw)
        assert set(document) == {"data", "includes", "matching_rules"}
        tweet = document["data"]
        text = tweet["text"]
        # The envelope's own fields are the document's.
        assert envelope.tweet_id == tweet["id"]
        assert envelope.author_id == tweet["author_id"]
        assert envelope.created_at_ms == exact_ms(tweet["created_at"])
        entities = tweet.get("entities", {})
        assert envelope.hashtags == tuple(h["tag"] for h in entities.get("hashtags", ()))
        # Time-ordered snowflake ids, strictly increasing, carrying created_at.
        tweet_id = int(tweet["id"])
        assert tweet_id > previous_id
        assert envelope.created_at_ms >= previous_ms
        assert (tweet_id >> 22) + SNOWFLAKE_EPOCH_MS == envelope.created_at_ms
        previous_id, previous_ms = tweet_id, envelope.created_at_ms
        assert tweet["created_at"].endswith("Z") and len(tweet["created_at"]) == 24
        # Entity indices slice exactly; text is NFC and inside the BMP (code points = UTF-16).
        assert unicodedata.is_normalized("NFC", text)
        assert all(ord(c) <= 0xFFFF for c in text)
        assert 0 < len(text) <= 280
        for h in entities.get("hashtags", ()):
            assert text[h["start"] : h["end"]] == "#" + h["tag"]
        for m in entities.get("mentions", ()):
            assert text[m["start"] : m["end"]] == "@" + m["username"]
            assert m["id"].isdigit()
        for u in entities.get("urls", ()):
            assert text[u["start"] : u["end"]] == u["url"]
            assert u["url"].startswith("https://t.co/") and len(u["url"]) == 23
            assert u["expanded_url"].startswith("https://")
        assert all(entities.values()), "empty entity lists are left out, as X does"
        # The rest of the v2 shape.
        assert tweet["edit_history_tweet_ids"] == [tweet["id"]]
        assert tweet["lang"] in LANG_CODES
        assert isinstance(tweet["possibly_sensitive"], bool)
        metrics = tweet["public_metrics"]
        assert set(metrics) == METRICS
        assert all(isinstance(v, int) and v >= 0 for v in metrics.values())
        assert document["matching_rules"] and all(
            set(rule) == {"id", "tag"} for rule in document["matching_rules"]
        )
        [user] = document["includes"]["users"]
        assert user["id"] == tweet["author_id"]
        assert set(user) == {"id", "name", "username", "verified", "public_metrics"}
        assert set(user["public_metrics"]) == {
            "followers_count",
            "following_count",
            "tweet_count",
        }
        assert 1 <= len(user["username"]) <= 15
        assert user["username"].replace("_", "").isalnum() and user["username"].isascii()
        # Retweets, replies and quotes point at earlier tweets of the stream.
        references = tweet.get("referenced_tweets")
        if text.startswith("RT @"):
            assert references and references[0]["type"] == "retweeted"
            assert entities["mentions"][0]["start"] == 3
            assert tweet["conversation_id"] == tweet["id"]
            kinds["retweeted"] += 1
        elif references:
            [reference] = references
            kinds[reference["type"]] += 1
            if reference["type"] == "replied_to":
                assert text.startswith("@")
                assert tweet["in_reply_to_user_id"] == entities["mentions"][0]["id"]
                assert tweet["conversation_id"] in conversations
            else:
                assert reference["type"] == "quoted"
                assert entities["urls"][-1]["expanded_url"].endswith("/status/" + reference["id"])
                assert tweet["conversation_id"] == tweet["id"]
        else:
            assert tweet["conversation_id"] == tweet["id"]
            assert "in_reply_to_user_id" not in tweet
            kinds["original"] += 1
        if references:
            assert references[0]["id"] in seen_ids
        seen_ids.add(tweet["id"])
        conversations.add(tweet["conversation_id"])
        # The raw bytes parse with the live path's parser to the same fields.
        assert parse_line(envelope.raw) == envelope
    return kinds


# No shrinking: a smaller seed is not a simpler stream, and shrinking would take minutes.
@settings(
    max_examples=examples(10, 25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    seed=st.integers(min_value=0, max_value=2**40),
    start_ms=st.integers(min_value=1_420_070_400_000, max_value=2_051_222_400_000),  # 2015-2035
)
def test_any_seed_gives_well_formed_v2_envelopes(seed, start_ms):
    envelopes = take(seed, 400, start_ms)
    kinds = check_stream(envelopes, start_ms)
    assert set(kinds) == {"original", "retweeted", "replied_to", "quoted"}
    assert kinds["original"] > kinds["retweeted"] > kinds["quoted"]


@settings(
    max_examples=examples(4, 10),
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(seed=st.integers(min_value=0, max_value=2**31))
def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(seed):
    first = SimulatedSource(seed=seed, rate=None, limit=300, start_ms=START_MS)
    again = SimulatedSource(seed=seed, rate=None, limit=300, start_ms=START_MS)
    envelopes = list(first.envelopes())
    assert len(envelopes) == 300
    assert envelopes == list(again.envelopes())
    assert envelopes == list(first.envelopes()), "iterating twice restarts the same stream"
    other = list(
        SimulatedSource(seed=seed + 1, rate=None, limit=300, start_ms=START_MS).envelopes()
    )
    assert [e.raw for e in other] != [e.raw for e in envelopes]
    shifted = list(
        SimulatedSource(seed=seed, rate=None, limit=5, start_ms=START_MS + 1000).envelopes()
    )
    assert shifted[0].created_at_ms != envelopes[0].created_at_ms


def test_ids_stay_unique_and_ordered_when_a_millisecond_overflows():
    """At ten million tweets/s, 4,096 sequence numbers per millisecond are not enough."""
    envelopes = take(2, 30_000, rate=10_000_000.0)
    ids = [int(e.tweet_id) for e in envelopes]
    assert ids == sorted(set(ids))
    assert all(
        (i >> 22) + SNOWFLAKE_EPOCH_MS == e.created_at_ms
        for i, e in zip(ids, envelopes, strict=True)
    )
    assert max(i & 0xFFF for i in ids) == 4095


def test_a_seeded_stream_is_byte_identical_in_another_process():
    """No dependence on hash randomisation, import order or cached state."""
    script = (
        "import hashlib, itertools; from ingest.simulate import simulated_envelopes; "
        f"h = hashlib.sha256(); [h.update(e.raw) for e in itertools.islice("
        f"simulated_envelopes(11, {START_MS}), 3000)]; print(h.hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    here = hashlib.sha256()
    for envelope in take(11, 3000):
        here.update(envelope.raw)
    assert done.stdout.strip() == here.hexdigest()


def test_default_start_is_the_clock_at_construction():
    clock = FakeClock(now=1_800_000_000.5)
    source = SimulatedSource(seed=1, rate=None, limit=3, clock=clock)
    assert source.start_ms == 1_800_000_000_500
    first = next(source.envelopes())
    assert 1_800_000_000_500 <= first.created_at_ms < 1_800_000_000_500 + 5000


def test_a_trending_hashtag_bursts_far_above_its_median():
    per_minute: dict[str, Counter] = defaultdict(Counter)
    envelopes = take(5, 60_000, rate=20.0)  # about 45 minutes of simulated time
    first_minute = envelopes[0].created_at_ms // 60_000
    minutes = envelopes[-1].created_at_ms // 60_000 - first_minute  # whole minutes only
    for envelope in envelopes:
        minute = envelope.created_at_ms // 60_000 - first_minute
        if minute < minutes:
            for tag in envelope.hashtags:
                per_minute[tag][minute] += 1
    assert minutes >= 30
    bursting = []
    for tag, counts in per_minute.items():
        series = [counts[m] for m in range(minutes)]
        median = statistics.median(series)
        if median >= 3 and max(series) >= 6 * median:
            bursting.append(tag)
    assert bursting, "no hashtag spiked to 6x its per-minute median"
    # A spike is an episode, not a new normal: the busiest tag overall does not spike.
    top_tag = max(per_minute, key=lambda tag: sum(per_minute[tag].values()))
    assert top_tag not in bursting


def test_a_few_celebrities_write_a_large_share_and_followers_are_heavy_tailed():
    envelopes = take(9, 20_000)
    authors = Counter(e.author_id for e in envelopes)
    top = authors.most_common(6)
    assert top[0][1] / len(envelopes) > 0.07
    assert sum(n for _, n in top) / len(envelopes) > 0.2
    assert len(authors) > 2500, "a long tail of ordinary authors"
    users = {}
    for envelope in envelopes:
        [user] = json.loads(envelope.raw)["includes"]["users"]
        users[user["id"]] = user
    followers = sorted(u["public_metrics"]["followers_count"] for u in users.values())
    assert followers[-1] > 1000 * statistics.median(followers)
    for author, _ in top:  # the prolific few are the famous few
        assert users[author]["verified"]
        assert users[author]["public_metrics"]["followers_count"] >= 1_000_000


def test_engagement_is_heavy_tailed_and_follows_reach():
    by_reach: dict[bool, list[int]] = {True: [], False: []}
    likes = []
    for envelope in take(13, 20_000):
        document = json.loads(envelope.raw)
        tweet, [user] = document["data"], document["includes"]["users"]
        if "referenced_tweets" in tweet and tweet["referenced_tweets"][0]["type"] == "retweeted":
            continue
        followers = user["public_metrics"]["followers_count"]
        metrics = tweet["public_metrics"]
        likes.append(metrics["like_count"])
        if followers >= 100_000 or followers <= 50:
            by_reach[followers >= 100_000].append(metrics["impression_count"])
    assert max(likes) > 100 * max(1, statistics.median(likes))
    assert statistics.median(by_reach[True]) > 100 * statistics.median(by_reach[False])


def test_languages_are_weighted_and_written_in_their_language():
    envelopes = take(17, 10_000)
    tweets = [json.loads(e.raw)["data"] for e in envelopes]
    langs = Counter(t["lang"] for t in tweets)
    assert langs.most_common(1)[0][0] == "en" and langs["en"] > 0.4 * len(tweets)
    assert len(langs) >= 10
    assert langs["en"] > 3 * langs["es"] > 0

    def share(lang: str, *alphabets: tuple[int, int]) -> float:
        texts = [t["text"] for t in tweets if t["lang"] == lang and not t["text"].startswith("RT")]
        written = [any(lo <= ord(c) <= hi for c in x for lo, hi in alphabets) for x in texts]
        return sum(written) / len(texts)

    cjk, arabic, cyrillic = (0x3040, 0x9FFF), (0x0600, 0x06FF), (0x0400, 0x04FF)
    assert share("ja", cjk) > 0.95  # kana and kanji
    assert share("ar", arabic) > 0.95
    assert share("ru", cyrillic) > 0.95
    assert share("en", cjk, arabic, cyrillic) == 0


def test_pacing_follows_simulated_time_on_a_fake_clock():
    clock = FakeClock()
    source = SimulatedSource(seed=3, rate=100.0, limit=1000, start_ms=START_MS, clock=clock)
    began = clock.monotonic()
    late = []
    count = 0
    for envelope in source.envelopes():
        count += 1
        due = began + (envelope.created_at_ms - START_MS) / 1000
        assert clock.monotonic() >= due - 1e-9, "a tweet came out before its time"
        late.append(clock.monotonic() - due)
    assert count == 1000
    elapsed = clock.monotonic() - began
    assert 8.0 < elapsed < 11.0  # 1,000 tweets at 100/s, a little less when a burst adds some
    assert max(late) < 0.002
    assert max(clock.sleeps) <= 0.1, "naps stay short so close() is prompt"


def test_max_rate_never_sleeps_and_limit_is_exact():
    clock = FakeClock()
    source = SimulatedSource(seed=3, rate=None, limit=777, start_ms=START_MS, clock=clock)
    assert sum(1 for _ in source.envelopes()) == 777
    assert clock.sleeps == []
    assert source.summary().startswith("simulated 777 tweets with seed 3")


def test_close_during_a_sleep_ends_the_stream():
    clock = FakeClock()
    source = SimulatedSource(seed=3, rate=0.01, start_ms=START_MS, clock=clock)  # gaps of ~100 s
    clock.on_sleep = lambda: len(clock.sleeps) == 5 and source.close()
    assert list(source.envelopes()) == []
    assert len(clock.sleeps) == 5


def test_close_from_another_thread_is_prompt_on_the_real_clock():
    source = SimulatedSource(seed=3, rate=0.001, start_ms=int(time.time() * 1000))
    results = []
    worker = threading.Thread(target=lambda: results.append(list(source.envelopes())))
    worker.start()
    time.sleep(0.05)
    source.close()
    worker.join(timeout=5)  # the next tweet is due in about 1,000 s
    assert not worker.is_alive()
    assert results == [[]]


def test_close_between_tweets_at_max_rate():
    source = SimulatedSource(seed=3, rate=None, start_ms=START_MS)
    taken = []
    for envelope in source.envelopes():
        taken.append(envelope)
        if len(taken) == 10:
            source.close()
    assert len(taken) == 10


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": -1.0}, {"limit": -1}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        SimulatedSource(seed=1, start_ms=START_MS, **kwargs)


def test_parse_line_reads_back_the_exact_created_at_in_2038():
    # Float seconds once turned 2038-05-04T16:56:54.890Z into ...889.
    envelopes = take(21, 2000, start_ms=2_156_605_014_000)
    assert [parse_line(e.raw) for e in envelopes] == envelopes
