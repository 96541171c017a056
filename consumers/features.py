"""What the analytics take from one tweet: ``analyze(raw) -> Features``, a pure function.

``raw`` is a record value from the ``tweets`` topic: one X API v2 filtered-stream envelope,
``{"data": {...tweet...}, "includes": {"users": [...]}, "matching_rules": [...]}``
(see ``chirpstream.tweets``). It is parsed once with ``json.loads``; anything that is not such
an envelope raises ``chirpstream.tweets.MalformedTweet`` with a one-line message, so a worker
can count it (and dead-letter it) without knowing what went wrong.

Sentiment is VADER's compound score of the tweet text, scored as it is (a retweet's
``RT @user: `` prefix included), with VADER's documented thresholds: ``>= 0.05`` positive,
``<= -0.05`` negative, neutral between. VADER rounds the compound score to 4 decimals.

VADER is most of a worker's CPU, so ``sentiment`` spares it two kinds of text whose score is
known without it, and returns exactly what VADER would:

- a text with no emoji (VADER spells those out as words first) and no token in VADER's
  lexicon, tokenised as VADER does, scores 0.0: only a lexicon word gives a token a valence,
  and a sum of zeros stays 0.0 (about half the texts, simulated or real: VADER calls a tweet
  with no opinion word neutral);
- a text scored a moment ago scores the same again: the last ``SENTIMENT_CACHE`` texts are
  remembered (retweets repeat their original's text, ``RT @user: ...``, word for word).
"""

from __future__ import annotations

import functools
import json
import string
from typing import Any, NamedTuple

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from chirpstream.tweets import MalformedTweet, parse_created_at

WINDOW_MS = 1000  # the analytics window: one second of tweet time
POSITIVE_THRESHOLD = 0.05  # VADER's documented thresholds on the compound score
NEGATIVE_THRESHOLD = -0.05
LABELS = ("positive", "neutral", "negative")

# One analyzer for the process: it loads VADER's lexicon (shipped in the package) once, and
# holds no per-call state, so sharing it is safe.
_ANALYZER = SentimentIntensityAnalyzer()
_polarity_scores = _ANALYZER.polarity_scores
_LEXICON = _ANALYZER.lexicon.keys()
_EMOJI_CHARS = frozenset(emoji for emoji in _ANALYZER.emojis if len(emoji) == 1)
_PUNCTUATION = string.punctuation
SENTIMENT_CACHE = 4096  # texts whose score is remembered (the most recent ones)


class Features(NamedTuple):
    tweet_id: str
    author_id: str
    username: str  # the author's username from includes.users, "" when absent
    lang: str  # X's BCP 47 code; "und" when the envelope has none
    hashtags: tuple[str, ...]  # lowercased, in text order, duplicates kept
    mentions: tuple[str, ...]  # lowercased usernames, in text order
    is_retweet: bool  # referenced_tweets has type "retweeted"
    is_reply: bool  # referenced_tweets has type "replied_to"
    created_at_ms: int
    sentiment: float  # VADER compound, -1..1
    label: str  # "positive" | "neutral" | "negative"


def sentiment_label(compound: float) -> str:
    """VADER's label for a compound score (thresholds inclusive, as VADER documents them)."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


@functools.lru_cache(maxsize=SENTIMENT_CACHE)
def sentiment(text: str) -> float:
    """VADER's compound score of ``text`` (0.0 without asking VADER when it has no word VADER
    could score)."""
    if _EMOJI_CHARS.isdisjoint(text) and _LEXICON.isdisjoint(_vader_tokens(text)):
        return 0.0
    return _polarity_scores(text)["compound"]


def _vader_tokens(text: str) -> list[str]:
    """The lowercased tokens VADER looks up in its lexicon: split on whitespace, leading and
    trailing punctuation stripped unless that leaves two characters or fewer (``:)``)."""
    tokens = []
    for word in text.split():
        stripped = word.strip(_PUNCTUATION)
        tokens.append((stripped if len(stripped) > 2 else word).lower())
    return tokens


def window_start_ms(created_at_ms: int, window_ms: int = WINDOW_MS) -> int:
    """The start of the window holding ``created_at_ms`` (floored, also before 1970)."""
    return created_at_ms - created_at_ms % window_ms


def analyze(raw: bytes) -> Features:
    """The features of one envelope; ``MalformedTweet`` if ``raw`` is not a tweet envelope."""
    try:
        document = json.loads(raw)
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError, None
        raise MalformedTweet(_one_line(f"not JSON ({type(exc).__name__}: {exc})")) from exc
    try:
        return _features(document)
    except MalformedTweet:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedTweet(
            _one_line(f"not a tweet envelope ({type(exc).__name__}: {exc})")
        ) from exc


def _features(document: Any) -> Features:
    if not isinstance(document, dict):
        raise MalformedTweet(f"not a tweet envelope (a JSON {type(document).__name__})")
    tweet = document.get("data")
    if not isinstance(tweet, dict):
        raise MalformedTweet("not a tweet envelope (no data object)")
    tweet_id = _identifier(tweet, "id")
    author_id = _identifier(tweet, "author_id")
    text = _string(tweet, "text")
    created_at_ms = parse_created_at(_string(tweet, "created_at"))
    lang = tweet.get("lang", "und")
    if not isinstance(lang, str):
        raise MalformedTweet("not a tweet envelope (lang is not a string)")

    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    entities = tweet.get("entities")
    if entities:
        hashtags = tuple(e["tag"].lower() for e in _in_text_order(entities.get("hashtags")))
        mentions = tuple(e["username"].lower() for e in _in_text_order(entities.get("mentions")))

    is_retweet = is_reply = False
    for reference in tweet.get("referenced_tweets") or ():
        kind = reference["type"]
        if kind == "retweeted":
            is_retweet = True
        elif kind == "replied_to":
            is_reply = True

    username = ""
    includes = document.get("includes")
    if includes:
        for user in includes.get("users") or ():
            if str(user.get("id")) == author_id:
                username = user.get("username") or ""
                if not isinstance(username, str):
                    raise MalformedTweet("not a tweet envelope (username is not a string)")
                break

    compound = sentiment(text)
    return Features(
        tweet_id,
        author_id,
        username,
        lang,
        hashtags,
        mentions,
        is_retweet,
        is_reply,
        created_at_ms,
        compound,
        sentiment_label(compound),
    )


def _identifier(tweet: dict, field: str) -> str:
    value = tweet[field]
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise MalformedTweet(f"not a tweet envelope ({field} is not an id)")


def _string(tweet: dict, field: str) -> str:
    value = tweet[field]
    if not isinstance(value, str):
        raise MalformedTweet(f"not a tweet envelope ({field} is not a string)")
    return value


def _in_text_order(items: Any) -> list[dict]:
    """Entity objects sorted by ``start`` (X sends them in order; a stable sort keeps that)."""
    if not items:
        return []
    return sorted(items, key=lambda item: item.get("start", 0))


def _one_line(message: str) -> str:
    return " ".join(message.split())
