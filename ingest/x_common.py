"""What the two live X API sources (``x-stream``, ``x-poll``) share.

The bearer token (from ``X_BEARER_TOKEN`` only, and never in a log line, an exception or a
repr), the read budget and its cost estimate, the one-line ``XApiError`` made from X's error
bodies, and the request fields both sources ask for. Tweepy 4.17.0 sends every request to
``https://api.twitter.com`` (the host is hard-coded in ``tweepy.client`` and
``tweepy.streaming``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any, Protocol

from requests.adapters import HTTPAdapter

TOKEN_VARIABLE = "X_BEARER_TOKEN"

# Price of one Post read on X's pay-per-use API (the default since 2026-02), in US dollars:
# docs.x.com/x-api/getting-started/pricing, summarised in /work/shared/field-notes.md §4.
# X may charge your account differently; the Developer Console has the real bill.
POST_READ_USD = 0.005

DEFAULT_MAX_READS = 100

# Tweet and user fields both sources ask for, so a polled tweet looks like a streamed one.
# x-poll expands only author_id: its envelopes carry just the author (see x_poll.normalise).
EXPANSIONS = ("author_id", "referenced_tweets.id", "entities.mentions.username")
TWEET_FIELDS = (
    "created_at",
    "lang",
    "public_metrics",
    "entities",
    "conversation_id",
    "referenced_tweets",
    "possibly_sensitive",
    "edit_history_tweet_ids",
)
USER_FIELDS = ("username", "name", "verified", "public_metrics")

# Tweepy's own ``Client`` requests carry no timeout; a stalled connection would hang forever.
REQUEST_TIMEOUT_S = (10.0, 30.0)  # (connect, read)

log = logging.getLogger(__name__)


class MissingCredential(RuntimeError):
    """No usable bearer token; the message says what to do, in one line."""


class XApiError(RuntimeError):
    """The X API refused or failed a request for good; the message is one line, token-free."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(one_line(redact(message)))
        self.status = status


# -- the token -------------------------------------------------------------------------------


def bearer_token() -> str:
    """The app-only Bearer token from ``X_BEARER_TOKEN``; ``MissingCredential`` if unusable."""
    return check_token(os.environ.get(TOKEN_VARIABLE))


def check_token(token: str | None) -> str:
    """``token`` stripped of surrounding whitespace, or ``MissingCredential`` saying why not."""
    token = (token or "").strip()
    if not token:
        raise MissingCredential(
            f"{TOKEN_VARIABLE} is not set: export the app-only Bearer token of an X developer "
            "app, or use --source simulate"
        )
    if not token.isprintable() or any(c.isspace() for c in token):
        # requests would otherwise reject the header and quote it, token and all, in its error.
        raise MissingCredential(
            f"{TOKEN_VARIABLE} contains spaces or control characters: export the Bearer token "
            "exactly as the X Developer Console shows it"
        )
    protect(token)
    return token


class _Redactor(logging.Filter):
    """Rewrites any record that would print a known token (tweepy logs request headers)."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.tokens:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix; still never print a token
            message = f"{record.msg!s} {record.args!r}"
        if any(token in message for token in self.tokens):
            record.msg, record.args = redact(message, self.tokens), None
        return True


_REDACTOR = _Redactor()
# Tweepy's Client logs its request headers (``Authorization: Bearer ...``) at DEBUG.
_TOKEN_LOGGERS = ("tweepy.client", "tweepy.streaming", "urllib3.connectionpool", __name__)


def protect(token: str) -> None:
    """Keep ``token`` out of the log lines of tweepy, urllib3 and the X sources."""
    _REDACTOR.tokens.add(token)
    for name in _TOKEN_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def redact(text: str, tokens: str | set[str] | None = None) -> str:
    """``text`` with every protected token (or the given ones) replaced by ``***``."""
    if tokens is None:
        tokens = _REDACTOR.tokens
    elif isinstance(tokens, str):
        tokens = {tokens}
    for token in tokens:
        if token:
            text = text.replace(token, "***")
    return text


# -- read budget and cost --------------------------------------------------------------------


def estimated_cost_usd(reads: int) -> float:
    """What ``reads`` Post reads cost at X's pay-per-use price (``POST_READ_USD`` each)."""
    return reads * POST_READ_USD


def format_usd(amount: float) -> str:
    """``$0.50``, ``$0.015``: cents, or tenths of a cent when those matter."""
    text = f"{amount:.3f}"
    return "$" + (text[:-1] if text.endswith("0") else text)


def check_max_reads(max_reads: object) -> int:
    if isinstance(max_reads, bool) or not isinstance(max_reads, int) or max_reads <= 0:
        raise ValueError(f"max_reads must be a positive whole number, got {max_reads!r}")
    return max_reads


class ReadBudget:
    """Counts Post reads against ``max_reads``; thread-safe, since the stream reads in a thread."""

    def __init__(self, max_reads: int) -> None:
        self.max_reads = check_max_reads(max_reads)
        self.reads = 0
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        return max(0, self.max_reads - self.reads)

    @property
    def exhausted(self) -> bool:
        return self.reads >= self.max_reads

    def spend(self, count: int = 1) -> None:
        with self._lock:
            self.reads += count

    def summary(self) -> str:
        posts = "post" if self.reads == 1 else "posts"
        return (
            f"read {self.reads} {posts} from the X API, estimated cost "
            f"{format_usd(estimated_cost_usd(self.reads))} at ${POST_READ_USD} per post read"
        )


# -- waiting -----------------------------------------------------------------------------------


class Clock(Protocol):
    """What the sources need of ``time``; tests pass a fake that sleeps instantly."""

    def time(self) -> float: ...

    def sleep(self, seconds: float, /) -> None: ...


def wait(clock: Clock, seconds: float, closed: threading.Event, step: float = 0.2) -> bool:
    """Sleep ``seconds`` on ``clock`` in short steps; False as soon as ``closed`` is set."""
    deadline = clock.time() + seconds
    while not closed.is_set():
        remaining = deadline - clock.time()
        if remaining <= 0:
            return True
        clock.sleep(min(step, remaining))
    return False


class TimeoutAdapter(HTTPAdapter):
    """An adapter that gives requests without a timeout (all of tweepy's Client) a default."""

    def __init__(self, timeout: tuple[float, float] = REQUEST_TIMEOUT_S) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def mount_timeouts(session: Any) -> None:
    session.mount("https://", TimeoutAdapter())


# -- errors ------------------------------------------------------------------------------------


def one_line(text: str, limit: int = 600) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def response_body(response: Any) -> Any:
    """A requests response's JSON body, else the start of its text, else None."""
    if response is None:
        return None
    try:
        return response.json()
    except (ValueError, AttributeError):
        try:
            return response.text[:300]
        except Exception:
            return None


def describe(body: Any) -> str:
    """X's explanation in an error body: its title, detail and reason, or error messages."""
    if isinstance(body, str):
        return body.strip()
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    for key in ("title", "reason", "detail", "connection_issue", "required_enrollment"):
        value = body.get(key)
        if isinstance(value, str) and value and value not in parts:
            parts.append(value)
    errors = body.get("errors")
    if isinstance(errors, list):
        for error in errors:
            if isinstance(error, dict):
                text = describe(error)
                message = error.get("message")
                if isinstance(message, str) and message and message not in text:
                    text = f"{text}; {message}" if text else message
                details = error.get("details")
                if isinstance(details, list):
                    text = "; ".join([text, *map(str, details)]) if text else "; ".join(details)
            else:
                text = str(error)
            if text and text not in parts:
                parts.append(text)
    if isinstance(body.get("error"), str) and body["error"] not in parts:
        parts.append(body["error"])
    return "; ".join(parts)


def api_error(status: int, body: Any, *, what: str, instead: str) -> XApiError:
    """The one-line ``XApiError`` for a failed request ``what`` (e.g. "the filtered stream").

    ``instead`` completes "..., or use ..." for a 403: the sources that need no such access.
    """
    explanation = describe(body)
    if status == 401:
        message = "the X API refused the bearer token (401): check X_BEARER_TOKEN"
    elif status == 403:
        message = (
            f"the X API refused access to {what} (403): it needs an X API plan that includes it "
            f"(check the app and its Project in the X Developer Console), or use {instead}"
        )
    else:
        message = f"the X API rejected the request for {what} ({status})"
    if explanation and status != 401:  # X's 401 body only says "Unauthorized"
        message += f"; X says: {explanation}"
    return XApiError(message, status)


def http_error(exc: Any, *, what: str, instead: str) -> XApiError:
    """``api_error`` for a ``tweepy.HTTPException``."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or 0
    return api_error(status, response_body(response), what=what, instead=instead)


def compact_json(document: Any) -> bytes:
    """One stream line, the way X sends them: compact UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class Budgeted:
    """What both live sources report about their paid reads; they set ``_budget``."""

    _budget: ReadBudget

    @property
    def reads(self) -> int:
        """Posts X has returned so far (each one a paid read)."""
        return self._budget.reads

    @property
    def max_reads(self) -> int:
        return self._budget.max_reads

    def summary(self) -> str:
        return self._budget.summary()
