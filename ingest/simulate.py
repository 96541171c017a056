"""The simulated tweet stream: the default source, offline, seeded and exactly repeatable.

Every tweet is the X API v2 filtered-stream envelope, with X's field names::

    {"data": {...tweet...}, "includes": {"users": [author]}, "matching_rules": [...]}

``simulated_envelopes(seed, start_ms, rate)`` is the generator: a pure function of its
arguments, so ``islice(simulated_envelopes(7, start, 50.0), 20_000)`` is the same 20,000
envelopes, byte for byte, every time (tests compute expected aggregates from it without
Kafka). ``SimulatedSource`` wraps it with real-time pacing, a limit and ``close()``.
``chirpstream ingest --seed N`` starts simulated time at ``SEEDED_START_MS`` rather than now,
so two runs with one seed publish the same tweets, ids and timestamps included.

The traffic model:

- Time is simulated: it starts at ``start_ms`` and advances by Poisson gaps at ``rate``
  tweets/s, never by the wall clock. ``created_at`` and the snowflake ids come from it.
- Bursts: every 1-4 minutes of simulated time (the first within 5-30 s) one trending hashtag
  spikes 10-50x its usual rate for 30-120 s, on top of the base rate.
- Authors: a fixed pool of 5,000 with Pareto-distributed followers; six celebrities write a
  quarter of all tweets (the top one about a tenth), so ``author_id`` keys make a hot
  partition.
- Languages are weighted (en >> ja, es, pt, ar, fr, de, hi, ...); the text is in the tweet's
  language where faker has words for it, English otherwise (see ``ingest.sim_pools``).
- Kinds: originals, retweets ("RT @user: ..." with ``referenced_tweets`` retweeted), replies
  (leading @mention, ``replied_to``, the parent's ``conversation_id``) and quotes
  (``quoted``, a t.co link to the quoted tweet). Entity indices are code points and slice
  ``text`` exactly; text stays inside the BMP so UTF-16 tools agree (see ``sim_pools``).

Run ``python -m ingest.simulate --help`` to write a JSONL file in the replay format.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chirpstream.tweets import Envelope
from ingest.sim_pools import (
    DOMAINS,
    EMOJI,
    HASHTAGS,
    LANGUAGES,
    TRENDING_RANKS,
    Author,
    build_pools,
)

SNOWFLAKE_EPOCH_MS = 1288834974657  # X's epoch: ids are ((ms - epoch) << 22) | worker | seq
# Where simulated time starts for a seeded run (2026-01-01T00:00:00Z): fixed, so the ids and
# created_at of a seeded stream are the same on every run, not only its text.
SEEDED_START_MS = 1_767_225_600_000
DEFAULT_RATE = 50.0  # tweets/s; also the simulated pace of rate=None ("max")
RECENT = 512  # how many recent tweets replies, retweets and quotes choose from
TAGS_PER_TWEET = 0.7  # about how many global hashtags a tweet carries (burst sizing)
# The filtered-stream rules every simulated tweet matches (X sends the ids as strings).
RULE_SAMPLE = {"id": "1866000000000000001", "tag": "simulated sample"}
RULE_HASHTAGS = {"id": "1866000000000000002", "tag": "has:hashtags"}

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_RULES_PLAIN = _ENCODE([RULE_SAMPLE])
_RULES_TAGGED = _ENCODE([RULE_SAMPLE, RULE_HASHTAGS])
_TCO_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_LANG_CODES = tuple(lang for lang, *_ in LANGUAGES)
_LANG_CUM_WEIGHTS = tuple(itertools.accumulate(w for *_, w in LANGUAGES))


def snowflake(ms: int, worker: int, sequence: int) -> int:
    """An X-style id: milliseconds since X's epoch, 10 bits of worker, 12 of sequence."""
    return ((ms - SNOWFLAKE_EPOCH_MS) << 22) | (worker << 12) | sequence


def simulated_envelopes(seed: int, start_ms: int, rate: float = DEFAULT_RATE) -> Iterator[Envelope]:
    """The endless simulated stream: a pure function of (seed, start_ms, rate)."""
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if start_ms < SNOWFLAKE_EPOCH_MS:
        raise ValueError(f"start_ms must be after X's epoch ({SNOWFLAKE_EPOCH_MS})")
    pools = build_pools(seed)
    rng = random.Random(f"chirpstream-stream-{seed}")
    rnd, choice, uniform, gauss = rng.random, rng.choice, rng.uniform, rng.gauss
    expovariate = rng.expovariate
    pick_author = pools.pick_author
    sentences = pools.sentences
    lang_hashtags = pools.lang_hashtags
    tag_weights = pools.hashtag_cum_weights
    tag_total = tag_weights[-1]
    slug_words = pools.slug_words
    worker = rng.randrange(1024)
    per_ms = rate / 1000.0

    def pick_tag(lang: str) -> str:
        local = lang_hashtags.get(lang)
        if local and rnd() < 0.3:
            return choice(local)
        return HASHTAGS[_bisect(tag_weights, rnd() * tag_total)]

    def tco() -> str:
        return "https://t.co/" + "".join(rng.choices(_TCO_CHARS, k=10))

    def popular_author() -> Author:
        a, b = pick_author(rng), pick_author(rng)
        return a if a.followers >= b.followers else b

    # Recent tweets that can be replied to, retweeted or quoted (never retweets themselves):
    # (id, author, text, hashtags, mentions, urls, conversation_id, lang, sensitive, retweets)
    recent: list[tuple[Any, ...]] = []
    recent_next = 0

    def pick_recent() -> tuple[Any, ...]:
        a, b = choice(recent), choice(recent)
        return a if a[1].followers >= b[1].followers else b

    def compose(
        kind: str, lang: str, target: tuple[Any, ...] | None, is_burst: bool, burst_tag: str
    ) -> tuple[str, list[dict], list[dict], list[dict]]:
        """Text and entities of an original, reply or quote: parts joined by single spaces."""
        parts: list[str] = []
        hashtags: list[dict] = []
        mentions: list[dict] = []
        urls: list[dict] = []
        position = 0  # code points so far, plus the space before the next part

        def push(piece: str) -> int:
            nonlocal position
            start = position
            parts.append(piece)
            position += len(piece) + 1
            return start

        if kind == "replied_to":
            handle = "@" + target[1].username
            start = push(handle)
            mentions.append({"start": start, "end": start + len(handle),
                             "username": target[1].username, "id": target[1].id})  # fmt: skip
        pool = sentences[lang]
        r = rnd()
        push(choice(pool))
        if r < 0.45:
            push(choice(pool))
            if r < 0.10:
                push(choice(pool))
        if rnd() < 0.08:
            other = popular_author()
            handle = "@" + other.username
            start = push(handle)
            mentions.append({"start": start, "end": start + len(handle),
                             "username": other.username, "id": other.id})  # fmt: skip
        if rnd() < 0.15:
            push(choice(EMOJI))
        r = rnd()
        count = 0 if r < 0.5 else 1 if r < 0.8 else 2 if r < 0.94 else 3
        tags = [burst_tag] if is_burst else []
        for _ in range(count):
            tag = pick_tag(lang)
            if tag.lower() not in (seen.lower() for seen in tags):
                tags.append(tag)
        for tag in tags:
            start = push("#" + tag)
            hashtags.append({"start": start, "end": start + 1 + len(tag), "tag": tag})
        if kind == "quoted":
            expanded = f"https://twitter.com/{target[1].username}/status/{target[0]}"
        elif rnd() < 0.12:
            domain = choice(DOMAINS)
            slug = "-".join(rng.choices(slug_words, k=3))
            expanded = f"https://{domain}/{2015 + int(rnd() * 12)}/{slug}"
        else:
            expanded = None
        if expanded is not None:
            url = tco()
            start = push(url)
            display = expanded.removeprefix("https://")
            if len(display) > 26:
                display = display[:25] + "…"
            urls.append({"start": start, "end": start + len(url), "url": url,
                         "expanded_url": expanded, "display_url": display})  # fmt: skip
        return " ".join(parts), hashtags, mentions, urls

    # The burst schedule, in simulated milliseconds.
    t = float(start_ms)

    def new_burst(start: float) -> tuple[float, float, str, float]:
        rank = choice(TRENDING_RANKS)
        multiplier = uniform(10, 50)
        extra = per_ms * multiplier * TAGS_PER_TWEET * pools.hashtag_share[rank]
        return start, start + uniform(30_000, 120_000), HASHTAGS[rank], extra

    burst_start, burst_end, burst_tag, burst_extra = new_burst(t + uniform(5_000, 30_000))
    last_ms, sequence = -1, 0
    cached_second, cached_prefix = -1, ""

    while True:
        # Next event of a Poisson process whose rate changes at burst boundaries: draw a gap at
        # the current rate; if it crosses a boundary, move to the boundary and draw again
        # (memorylessness makes this exact).
        while True:
            in_burst = burst_start <= t < burst_end
            lam = per_ms + burst_extra if in_burst else per_ms
            gap = expovariate(lam)
            boundary = burst_end if in_burst else burst_start
            if t + gap < boundary:
                t += gap
                break
            t = boundary
            if in_burst:
                burst_start, burst_end, burst_tag, burst_extra = new_burst(
                    t + uniform(60_000, 240_000)
                )
        is_burst = in_burst and rnd() * lam < burst_extra

        ms = int(t)
        if ms == last_ms:
            sequence += 1
            if sequence > 4095:  # 4,096 tweets in one millisecond: borrow the next one
                ms, sequence = ms + 1, 0
                t = float(ms)
        else:
            sequence = 0
        last_ms = ms
        tweet_id = str(snowflake(ms, worker, sequence))
        second = ms // 1000
        if second != cached_second:
            cached_second = second
            cached_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        created_at = f"{cached_prefix}.{ms % 1000:03d}Z"

        author = pick_author(rng)
        if rnd() < 0.9:
            lang = author.lang
        else:
            lang = _LANG_CODES[_bisect(_LANG_CUM_WEIGHTS, rnd() * _LANG_CUM_WEIGHTS[-1])]
        r = rnd()
        if is_burst:
            kind = "replied_to" if recent and r < 0.2 else "original"
        elif not recent or r >= 0.40:
            kind = "original"
        elif r < 0.22:
            kind = "retweeted"
        elif r < 0.35:
            kind = "replied_to"
        else:
            kind = "quoted"

        data: dict[str, Any] = {
            "id": tweet_id,
            "text": "",
            "author_id": author.id,
            "created_at": created_at,
            "lang": lang,
            "conversation_id": tweet_id,
            "edit_history_tweet_ids": [tweet_id],
            "possibly_sensitive": False,
        }
        if kind == "retweeted":
            (o_id, o_author, o_text, o_tags, o_mentions, o_urls, _, o_lang, o_sensitive,
             o_retweets) = pick_recent()  # fmt: skip
            handle = "@" + o_author.username
            prefix = f"RT {handle}: "
            shift = len(prefix)
            text = prefix + o_text
            hashtags = [{**h, "start": h["start"] + shift, "end": h["end"] + shift} for h in o_tags]
            mentions = [{"start": 3, "end": 3 + len(handle), "username": o_author.username,
                         "id": o_author.id}]  # fmt: skip
            mentions += [
                {**m, "start": m["start"] + shift, "end": m["end"] + shift} for m in o_mentions
            ]
            urls = [{**u, "start": u["start"] + shift, "end": u["end"] + shift} for u in o_urls]
            data["lang"] = o_lang
            data["possibly_sensitive"] = o_sensitive
            metrics = {
                "retweet_count": o_retweets,
                "reply_count": 0,
                "like_count": 0,
                "quote_count": 0,
                "bookmark_count": 0,
                "impression_count": 0,
            }
            references = [{"type": "retweeted", "id": o_id}]
        else:
            references = target = None
            if kind != "original":
                target = pick_recent()
                references = [{"type": kind, "id": target[0]}]
                if kind == "replied_to":
                    data["conversation_id"] = target[6]
                    data["in_reply_to_user_id"] = target[1].id
            text, hashtags, mentions, urls = compose(kind, lang, target, is_burst, burst_tag)
            sensitive = rnd() < 0.02
            data["possibly_sensitive"] = sensitive
            # Heavy-tailed engagement: reach scales with followers, both with "virality".
            virality = 2.718281828459045 ** gauss(0.0, 1.0)
            impressions = int(author.followers * 0.08 * virality * (0.5 + rnd())) + int(rnd() * 40)
            likes = int(impressions * 0.015 * virality * (0.5 + rnd()))
            retweets = int(likes * 0.2 * (0.3 + rnd()))
            metrics = {
                "retweet_count": retweets,
                "reply_count": int(likes * 0.08 * (0.3 + rnd())),
                "like_count": likes,
                "quote_count": int(retweets * 0.1 * (0.3 + rnd())),
                "bookmark_count": int(likes * 0.05 * (0.3 + rnd())),
                "impression_count": impressions,
            }
            entry = (tweet_id, author, text, hashtags, mentions, urls, data["conversation_id"],
                     lang, sensitive, retweets)  # fmt: skip
            if len(recent) < RECENT:
                recent.append(entry)
            else:
                recent[recent_next] = entry
                recent_next = (recent_next + 1) % RECENT

        data["text"] = text
        entities = {}
        if hashtags:
            entities["hashtags"] = hashtags
        if mentions:
            entities["mentions"] = mentions
        if urls:
            entities["urls"] = urls
        if entities:
            data["entities"] = entities
        data["public_metrics"] = metrics
        if references is not None:
            data["referenced_tweets"] = references
        raw = (
            '{"data":'
            + _ENCODE(data)
            + ',"includes":{"users":['
            + author.user_json
            + ']},"matching_rules":'
            + (_RULES_TAGGED if hashtags else _RULES_PLAIN)
            + "}"
        ).encode()
        yield Envelope(raw, tweet_id, author.id, tuple(h["tag"] for h in hashtags), ms)


def _bisect(cumulative: tuple[float, ...], x: float) -> int:
    return min(bisect.bisect(cumulative, x), len(cumulative) - 1)


class SimulatedSource:
    """Simulated tweets, paced in real time at ``rate`` tweets/s (``None``: as fast as possible).

    ``seed`` fixes the stream; ``start_ms`` (default: the clock's now at construction) is the
    simulated time the stream starts from, so a seed plus a start_ms is byte-identical on
    every run. With ``rate=None`` simulated time still advances as at ``DEFAULT_RATE``.
    """

    name = "simulate"

    def __init__(
        self,
        seed: int = 0,
        rate: float | None = DEFAULT_RATE,
        limit: int | None = None,
        start_ms: int | None = None,
        clock: Any = time,
    ) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be positive (or None for max), got {rate}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        self.seed = seed
        self.rate = rate
        self.limit = limit
        self.clock = clock
        self.start_ms = int(clock.time() * 1000) if start_ms is None else int(start_ms)
        self.emitted = 0
        self._closed = False
        build_pools(seed)  # the slow part, now rather than at the first tweet

    def envelopes(self) -> Iterator[Envelope]:
        stream = simulated_envelopes(self.seed, self.start_ms, self.rate or DEFAULT_RATE)
        if self.limit is not None:
            stream = itertools.islice(stream, self.limit)
        clock, rate, start_ms = self.clock, self.rate, self.start_ms
        began = clock.monotonic()
        for envelope in stream:
            if self._closed:
                return
            if rate is not None:
                due = began + (envelope.created_at_ms - start_ms) / 1000.0
                while (wait := due - clock.monotonic()) > 0:
                    clock.sleep(min(wait, 0.1))  # short naps, so close() is prompt
                    if self._closed:
                        return
            self.emitted += 1
            yield envelope

    def close(self) -> None:
        self._closed = True

    def summary(self) -> str:
        return f"simulated {self.emitted} tweets with seed {self.seed} (repeat with --seed)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.simulate",
        description="Write simulated tweets as JSONL in the replay format (no Kafka).",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument(
        "--start-ms", type=int, default=None, help="simulated start, epoch ms (default: now)"
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="simulated tweets/s (default 50)"
    )
    parser.add_argument("--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    start_ms = int(time.time() * 1000) if args.start_ms is None else args.start_ms
    stream = itertools.islice(simulated_envelopes(args.seed, start_ms, args.rate), args.count)
    out = args.output.open("wb") if args.output else sys.stdout.buffer
    try:
        for envelope in stream:
            out.write(envelope.raw + b"\n")
    finally:
        if args.output:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
