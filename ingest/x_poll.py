"""``x-poll``: the X API's recent search, polled every few seconds, as stream envelopes.

Each poll is one ``GET /2/tweets/search/recent`` (tweepy 4.17.0 sends it to
``https://api.twitter.com``) asking only for posts newer than the last poll's ``newest_id``.
Every post is rewritten as the filtered stream would have delivered it,
``{"data": tweet, "includes": {"users": [author]}, "matching_rules": [{"id": "poll", "tag":
query}]}``, and goes through ``chirpstream.tweets.parse_line`` like any replayed line.

Every post X returns is a paid read. X returns at least 10 posts a request, so when fewer than
10 reads remain the last poll can cost up to 9 posts more than ``max_reads``; those are counted
in ``reads`` and the cost, but not published.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import requests
import tweepy

from chirpstream.tweets import Envelope, MalformedTweet, parse_line
from ingest.x_common import (
    DEFAULT_MAX_READS,
    TWEET_FIELDS,
    USER_FIELDS,
    Budgeted,
    Clock,
    ReadBudget,
    XApiError,
    bearer_token,
    check_token,
    compact_json,
    describe,
    http_error,
    mount_timeouts,
    one_line,
    wait,
)

log = logging.getLogger(__name__)

WHAT = "recent search"
INSTEAD = "--source simulate"
MIN_RESULTS, MAX_RESULTS = 10, 100  # X's bounds for max_results on recent search
RATE_LIMIT_FALLBACK_S = 60.0  # when a 429 carries no x-rate-limit-reset header
MAX_FAILURES = 5  # server errors or network failures in a row before giving up
POLL_RULE_ID = "poll"


def normalise(page: dict[str, Any], query: str) -> list[bytes]:
    """One stream line per post of a recent-search page, oldest first.

    X lists search results newest first; a stream delivers them oldest first.
    """
    users = {user.get("id"): user for user in (page.get("includes") or {}).get("users", [])}
    lines = []
    for tweet in reversed(page.get("data") or []):
        author = users.get(tweet.get("author_id"))
        envelope = {
            "data": tweet,
            "includes": {"users": [author] if author is not None else []},
            "matching_rules": [{"id": POLL_RULE_ID, "tag": query}],
        }
        lines.append(compact_json(envelope))
    return lines


class XPollSource(Budgeted):
    """Polls recent search for ``query`` every ``interval_s`` until ``max_reads`` posts."""

    name = "x-poll"

    def __init__(
        self,
        query: str,
        max_reads: int = DEFAULT_MAX_READS,
        interval_s: float = 15.0,
        token: str | None = None,
        clock: Clock = time,  # type: ignore[assignment]
        *,
        expansions: Sequence[str] = ("author_id",),
        tweet_fields: Sequence[str] = TWEET_FIELDS,
        user_fields: Sequence[str] = USER_FIELDS,
    ) -> None:
        if not query or not query.strip():
            raise ValueError("x-poll needs a search query, e.g. --query '#python -is:retweet'")
        if interval_s < 0:
            raise ValueError(f"the poll interval must not be negative, got {interval_s}")
        self.query = query
        self.interval_s = interval_s
        self._budget = ReadBudget(max_reads)
        token = bearer_token() if token is None else check_token(token)
        # return_type=dict: X's JSON exactly as sent, every field kept.
        self._client = tweepy.Client(bearer_token=token, return_type=dict)
        mount_timeouts(self._client.session)
        self._clock = clock
        self._fields = {
            "expansions": list(expansions),
            "tweet_fields": list(tweet_fields),
            "user_fields": list(user_fields),
        }
        self._since_id: str | None = None
        self._closed = threading.Event()
        self._started = False

    def __repr__(self) -> str:
        return (
            f"XPollSource(query={self.query!r}, max_reads={self._budget.max_reads}, "
            f"reads={self.reads})"
        )

    def close(self) -> None:
        self._closed.set()

    def envelopes(self) -> Iterator[Envelope]:
        if self._started:
            raise RuntimeError("XPollSource.envelopes() can only be iterated once")
        self._started = True
        first, failures = True, 0
        while not self._closed.is_set() and not self._budget.exhausted:
            if not first and not wait(self._clock, self.interval_s, self._closed):
                return
            first = False
            try:
                page = self._search()
            except (tweepy.TwitterServerError, requests.RequestException) as exc:
                failures += 1
                reason = _failure(exc)
                if failures >= MAX_FAILURES:
                    raise XApiError(
                        f"the X API's {WHAT} failed {failures} times in a row (last: {reason})"
                    ) from None
                log.warning("x-poll: %s failed (%s); trying again at the next poll", WHAT, reason)
                continue
            if page is None:  # closed while waiting out a rate limit
                return
            failures = 0
            yield from self._publish(page)

    def _search(self) -> dict[str, Any] | None:
        """One recent-search request, retried after rate limits; None if closed meanwhile."""
        remaining = self._budget.remaining
        params: dict[str, Any] = {
            "max_results": max(MIN_RESULTS, min(MAX_RESULTS, remaining)),
            "sort_order": "recency",
            **self._fields,
        }
        if self._since_id is not None:
            params["since_id"] = self._since_id
        while True:
            try:
                return self._client.search_recent_tweets(self.query, **params)
            except tweepy.TooManyRequests as exc:
                reset = exc.reset_time
                delay = (
                    RATE_LIMIT_FALLBACK_S
                    if reset is None
                    else max(1.0, reset - self._clock.time() + 1)
                )
                log.warning(
                    "x-poll: rate limited by X (429); waiting %.0f s for the limit to reset", delay
                )
                if not wait(self._clock, delay, self._closed):
                    return None
            except tweepy.TwitterServerError:
                raise
            except tweepy.HTTPException as exc:
                raise http_error(exc, what=WHAT, instead=INSTEAD) from None

    def _publish(self, page: dict[str, Any]) -> Iterator[Envelope]:
        allowed = self._budget.remaining
        lines = normalise(page, self.query)
        self._budget.spend(len(lines))
        newest = (page.get("meta") or {}).get("newest_id")
        if newest:
            self._since_id = str(newest)
        if page.get("errors"):
            log.info("x-poll: X reported partial errors: %s", one_line(describe(page), 300))
        if len(lines) > allowed:
            log.info(
                "x-poll: X returned %d posts (at least %d a request); publishing the %d the "
                "budget allows",
                len(lines),
                MIN_RESULTS,
                allowed,
            )
        for line in lines[:allowed]:
            try:
                envelope = parse_line(line)
            except MalformedTweet as exc:
                log.warning("x-poll: skipped a post X returned: %s", exc)
                continue
            yield envelope
            if self._closed.is_set():
                return


def _failure(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        return f"{status} {getattr(response, 'reason', '') or ''}".strip()
    return one_line(f"{type(exc).__name__}: {exc}", 200)
