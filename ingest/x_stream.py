"""``x-stream``: the X API v2 filtered stream, through tweepy's ``StreamingClient``.

On start the stream rules are made to match the ones given (``GET``/``POST
/2/tweets/search/stream/rules``), then ``GET /2/tweets/search/stream`` stays open and every
line X sends goes through ``chirpstream.tweets.parse_line``, the parser the replay path uses.
Tweepy 4.17.0 sends all of this to ``https://api.twitter.com``.

Tweepy would retry a failed connection forever, 401 and 403 included, with sleeps nothing can
interrupt. Here every failure disconnects tweepy at once and a supervisor thread decides: 401,
403 and other client errors end ``envelopes()`` with a one-line ``XApiError``; 429, 5xx,
network errors and streams X closes are retried with X's recommended back-off, in waits that
``close()`` cuts short.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import requests
import tweepy

from chirpstream.tweets import Envelope, MalformedTweet, parse_line
from ingest.x_common import (
    DEFAULT_MAX_READS,
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    Budgeted,
    Clock,
    ReadBudget,
    XApiError,
    api_error,
    bearer_token,
    check_token,
    describe,
    http_error,
    mount_timeouts,
    one_line,
    response_body,
    wait,
)

log = logging.getLogger(__name__)

WHAT = "the filtered stream"
INSTEAD = "--source x-poll or --source simulate"
QUEUE_SIZE = 1000

# X's reconnection guidance (and tweepy's defaults): HTTP errors back off exponentially from
# 5 s to 320 s, 429 from 60 s (or until x-rate-limit-reset), network errors linearly by 250 ms
# up to 16 s.
HTTP_WAIT_START_S, HTTP_WAIT_MAX_S = 5.0, 320.0
RATE_LIMIT_WAIT_START_S = 60.0
NETWORK_WAIT_STEP_S, NETWORK_WAIT_MAX_S = 0.25, 16.0

_END = object()  # the supervisor is done: no more envelopes


def _retryable(status: int) -> bool:
    return status in (420, 429) or status >= 500


class _Stream(tweepy.StreamingClient):
    """Tweepy's filtered-stream client that reports every event to its source, never retrying.

    Each failure callback disconnects at once, so tweepy's own retry loop ends without its
    (uninterruptible) back-off sleep, and the source's supervisor decides what happens next.
    """

    def __init__(self, source: XStreamSource, token: str) -> None:
        super().__init__(token, wait_on_rate_limit=False, daemon=True)
        self._source = source
        self.error_body: Any = None
        self.error_headers: dict[str, str] = {}
        self.session.hooks["response"].append(self._remember_error)
        mount_timeouts(self.session)

    def __repr__(self) -> str:
        return f"<x-stream client running={self.running}>"

    def _remember_error(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # tweepy hands on_request_error only the status; X's explanation is in the body.
        if response.status_code >= 400 and response.url.split("?")[0].endswith("/stream"):
            self.error_body = response_body(response)
            self.error_headers = dict(response.headers)

    def on_connect(self) -> None:
        self._source._connected()

    def on_data(self, raw_data: bytes) -> None:
        self._source._line(raw_data)

    def on_keep_alive(self) -> None:
        self._source._keep_alive()

    def on_request_error(self, status_code: int) -> None:
        self.disconnect()
        self._source._ended("http", status_code)

    def on_connection_error(self) -> None:
        self.disconnect()
        self._source._ended("network", None)

    def on_closed(self, response: requests.Response) -> None:
        self.disconnect()
        self._source._ended("closed", None)

    def on_exception(self, exception: Exception) -> None:
        self.disconnect()
        self._source._ended("exception", exception)

    def on_disconnect(self) -> None:
        log.debug("x-stream: disconnected")


class XStreamSource(Budgeted):
    """Tweets matching ``rules`` from the filtered stream, until ``max_reads`` or ``close()``."""

    name = "x-stream"

    def __init__(
        self,
        rules: Iterable[str],
        max_reads: int = DEFAULT_MAX_READS,
        token: str | None = None,
        *,
        expansions: Sequence[str] = EXPANSIONS,
        tweet_fields: Sequence[str] = TWEET_FIELDS,
        user_fields: Sequence[str] = USER_FIELDS,
        clock: Clock = time,  # type: ignore[assignment]
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        values = list(dict.fromkeys(rule.strip() for rule in rules))
        if not values or not all(values):
            raise ValueError('x-stream needs at least one non-empty rule, e.g. --rule "#python"')
        # Each rule is tagged with its own text, so matching_rules says which rule matched.
        self.rules: list[tuple[str, str]] = [(value, value) for value in values]
        self._budget = ReadBudget(max_reads)
        self._stream = _Stream(self, bearer_token() if token is None else check_token(token))
        self._params = {
            "expansions": list(expansions),
            "tweet_fields": list(tweet_fields),
            "user_fields": list(user_fields),
        }
        self._clock = clock
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._end: tuple[str, Any] | None = None  # why the last connection ended
        self._heard = False  # the last connection delivered a line or a keep-alive

    def __repr__(self) -> str:
        return (
            f"XStreamSource(rules={[value for value, _ in self.rules]!r}, "
            f"max_reads={self._budget.max_reads}, reads={self.reads})"
        )

    def close(self) -> None:
        """Ends ``envelopes()`` promptly; safe from another thread or a signal handler."""
        self._closed.set()
        self._stream.disconnect()

    def envelopes(self) -> Iterator[Envelope]:
        if self._thread is not None:
            raise RuntimeError("XStreamSource.envelopes() can only be iterated once")
        self._thread = threading.Thread(target=self._supervise, name="x-stream", daemon=True)
        self._thread.start()
        try:
            while not self._closed.is_set():
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    # -- the supervisor thread ---------------------------------------------------------------

    def _supervise(self) -> None:
        try:
            self._sync_rules()
            self._stream_until_done()
        except _Closed:
            return
        except BaseException as exc:
            self._put(exc)
        else:
            self._put(_END)

    def _stream_until_done(self) -> None:
        http_wait, rate_wait, network_wait = HTTP_WAIT_START_S, RATE_LIMIT_WAIT_START_S, 0.0
        while not self._closed.is_set() and not self._budget.exhausted:
            self._end, self._heard = None, False
            self._stream.error_body, self._stream.error_headers = None, {}
            self._stream.filter(**self._params)
            if self._closed.is_set() or self._budget.exhausted:
                return
            if self._heard:  # it worked for a while: start the back-off afresh
                http_wait, rate_wait, network_wait = (
                    HTTP_WAIT_START_S,
                    RATE_LIMIT_WAIT_START_S,
                    0.0,
                )
            kind, detail = self._end or ("closed", None)
            if kind == "exception":
                if isinstance(detail, (requests.RequestException, OSError)):
                    raise XApiError(
                        f"lost the connection to {WHAT} ({type(detail).__name__}: {detail})"
                    ) from None
                raise detail
            if kind == "http":
                status = detail
                if not _retryable(status):
                    raise api_error(status, self._stream.error_body, what=WHAT, instead=INSTEAD)
                if status in (420, 429):
                    delay = self._until_reset(self._stream.error_headers) or rate_wait
                    rate_wait = min(rate_wait * 2, HTTP_WAIT_MAX_S)
                else:
                    delay = http_wait
                    http_wait = min(http_wait * 2, HTTP_WAIT_MAX_S)
                explanation = describe(self._stream.error_body)
                reason = f"HTTP {status}" + (
                    f": {one_line(explanation, 200)}" if explanation else ""
                )
            else:
                network_wait = min(network_wait + NETWORK_WAIT_STEP_S, NETWORK_WAIT_MAX_S)
                delay = network_wait
                reason = "X closed the stream" if kind == "closed" else "the connection failed"
            log.warning("x-stream: %s; reconnecting in %.2f s", reason, delay)
            if not wait(self._clock, delay, self._closed):
                return

    def _until_reset(self, headers: dict[str, str]) -> float | None:
        try:
            reset = int(headers["x-rate-limit-reset"])
        except (KeyError, ValueError):
            return None
        return max(1.0, reset - self._clock.time() + 1)

    def _sync_rules(self) -> None:
        """Make the app's stream rules exactly ``self.rules`` (value and tag)."""
        wanted = set(self.rules)
        current = self._rules_request(self._stream.get_rules).data or []
        stale = [rule.id for rule in current if (rule.value, rule.tag) not in wanted]
        kept = {rule.value for rule in current if (rule.value, rule.tag) in wanted}
        if stale:
            self._rules_request(self._stream.delete_rules, stale)
        new = [tweepy.StreamRule(value, tag) for value, tag in self.rules if value not in kept]
        if new:
            response = self._rules_request(self._stream.add_rules, new)
            problems = [
                error
                for error in response.errors
                if not (isinstance(error, dict) and error.get("title") == "DuplicateRule")
            ]
            if problems:
                values = [e.get("value") for e in problems if isinstance(e, dict)]
                raise XApiError(
                    f"X rejected the stream rule {' and '.join(map(repr, filter(None, values)))}"
                    f": {describe({'errors': problems})}"
                )
        log.info(
            "x-stream: rules %s (%d removed, %d added)",
            [value for value, _ in self.rules],
            len(stale),
            len(new),
        )

    def _rules_request(self, method: Any, *args: Any) -> Any:
        """A rules request, waiting out rate limits; every other failure is an XApiError."""
        while True:
            if self._closed.is_set():
                raise _Closed
            try:
                return method(*args)
            except tweepy.TooManyRequests as exc:
                reset = exc.reset_time
                delay = (
                    RATE_LIMIT_WAIT_START_S
                    if reset is None
                    else max(1.0, reset - self._clock.time() + 1)
                )
                log.warning("x-stream: rules rate-limited by X (429); waiting %.0f s", delay)
                if not wait(self._clock, delay, self._closed):
                    raise _Closed from None
            except tweepy.HTTPException as exc:
                raise http_error(exc, what=WHAT, instead=INSTEAD) from None
            except requests.RequestException as exc:
                raise XApiError(
                    f"could not reach the X API ({type(exc).__name__}: {exc})"
                ) from None

    # -- callbacks from tweepy's loop (supervisor thread) ------------------------------------

    def _connected(self) -> None:
        if self._closed.is_set():
            self._stream.disconnect()
            return
        log.info("x-stream: connected to %s", WHAT)

    def _keep_alive(self) -> None:
        self._heard = True

    def _ended(self, kind: str, detail: Any) -> None:
        self._end = (kind, detail)

    def _line(self, raw: bytes) -> None:
        self._heard = True
        if self._closed.is_set() or self._budget.exhausted:
            self._stream.disconnect()
            return
        try:
            envelope = parse_line(raw)
        except MalformedTweet as exc:
            self._not_a_tweet(raw, exc)
            return
        self._spend()
        self._put(envelope)

    def _spend(self) -> None:
        self._budget.spend()
        if self._budget.exhausted:
            log.info("x-stream: read budget of %d posts spent", self._budget.max_reads)
            self._stream.disconnect()

    def _not_a_tweet(self, raw: bytes, exc: MalformedTweet) -> None:
        """X also sends system messages (``{"errors": [...]}``); a bad post is still paid for."""
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if isinstance(document, dict) and "data" in document:
            self._spend()
            log.warning("x-stream: skipped a post X sent: %s", exc)
        elif isinstance(document, dict) and document.get("errors"):
            log.warning("x-stream: X says: %s", one_line(describe(document), 300))
        else:
            log.warning("x-stream: skipped a line that is not a tweet (%d bytes)", len(raw))

    def _put(self, item: Any) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


class _Closed(Exception):
    """close() was called while the rules were being set up."""
