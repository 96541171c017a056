"""The tweet envelope that ingest, consumers and dashboard share.

Every source yields the X API v2 filtered-stream envelope, one JSON object per line:
``{"data": {...tweet...}, "includes": {"users": [...]}, "matching_rules": [...]}``.
``Envelope`` carries those raw bytes (what goes on the topic, unchanged) plus the few fields
the producer needs to choose a key, so it never parses a line twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MalformedTweet(ValueError):
    """A line that is not a v2 stream envelope with a tweet; the message says what is wrong."""


class Envelope(NamedTuple):
    raw: bytes  # the stream line as received (no trailing newline)
    tweet_id: str
    author_id: str
    hashtags: tuple[str, ...]
    created_at_ms: int


def parse_created_at(text: str) -> int:
    """X's ISO-8601 ``created_at`` (``2026-11-25T14:00:00.000Z``) in epoch milliseconds."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact: no float seconds


def parse_line(raw: bytes | str) -> Envelope:
    """Parse one stream line the way the live stream path and the replay path both do."""
    if isinstance(raw, str):
        raw = raw.encode()
    raw = raw.strip()
    try:
        document = json.loads(raw)
        tweet = document["data"]
        hashtags = tuple(h["tag"] for h in tweet.get("entities", {}).get("hashtags", ()))
        return Envelope(
            raw,
            str(tweet["id"]),
            str(tweet["author_id"]),
            hashtags,
            parse_created_at(tweet["created_at"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedTweet(f"not a tweet envelope ({type(exc).__name__}: {exc})") from exc
