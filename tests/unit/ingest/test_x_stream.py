"""x-stream against a faked filtered stream and rules endpoint.

``responses`` serves tweepy's ``StreamingClient`` the rules answers and a stream body of
recorded lines with ``\\r\\n`` keep-alives (fixtures written for this project, see
tests/fixtures/x_api/README.md). For the "stream stays open" cases the body is a pipe the test
feeds. Nothing here reaches the real X API.
"""

from __future__ import annotations

import io
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from chirpstream.tweets import parse_line
from ingest.x_common import MissingCredential, XApiError
from ingest.x_stream import XStreamSource
from tests.unit.ingest.x_api import FIXTURES, TOKEN

# Tweepy 4.17.0 hard-codes this host (tweepy/streaming.py and tweepy/client.py).
STREAM = "https://api.twitter.com/2/tweets/search/stream"
RULES = "https://api.twitter.com/2/tweets/search/stream/rules"
KEEP_ALIVE = b"\r\n"
LINES = (FIXTURES / "stream_lines.jsonl").read_bytes().splitlines()


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def body(lines: list[bytes]) -> bytes:
    """A stream body as X sends it: each line ends in \\r\\n, with keep-alives in between."""
    return KEEP_ALIVE + b"".join(line + b"\r\n" + KEEP_ALIVE for line in lines)


class _Pipe(io.RawIOBase):
    """A response body that stays open: reads block until the test writes or ends it."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._ended = False
        self._ready = threading.Condition()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with self._ready:
            self._ready.wait_for(lambda: self._data or self._ended)
            count = min(len(buffer), len(self._data))
            buffer[:count] = self._data[:count]
            del self._data[:count]
            return count

    def write_stream(self, data: bytes) -> None:
        with self._ready:
            self._data += data
            self._ready.notify_all()

    def end(self) -> None:
        with self._ready:
            self._ended = True
            self._ready.notify_all()


def rules_unchanged(api, rules: list[str]) -> None:
    """The app already has exactly these rules: one GET, no POST."""
    data = [{"id": str(1861345987654321500 + i), "value": v, "tag": v} for i, v in enumerate(rules)]
    api.get(RULES, json={"data": data, "meta": {"sent": "2026-11-25T14:00:00.318Z"}})


def stream_calls(api) -> list:
    return [call for call in api.calls if call.request.url.split("?")[0] == STREAM]


def post_bodies(api) -> list[dict]:
    return [json.loads(call.request.body) for call in api.calls if call.request.method == "POST"]


def source(clock, rules=("#python lang:en", "#kafka"), max_reads=100, **kwargs) -> XStreamSource:
    return XStreamSource(list(rules), max_reads=max_reads, token=TOKEN, clock=clock, **kwargs)


def ended(src: XStreamSource, timeout: float = 2.0) -> bool:
    """The source's supervisor thread (and with it tweepy's loop) has finished."""
    thread = src._thread
    assert thread is not None
    thread.join(timeout)
    return not thread.is_alive()


def assert_token_free(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), *map(str, exc.args)):
        assert TOKEN not in text


# -- rules and tweets ------------------------------------------------------------------------


def test_rules_are_synced_then_each_line_becomes_an_envelope(api, clock, caplog):
    api.get(RULES, body=fixture("stream_rules_existing.json"))
    api.post(RULES, body=fixture("stream_rules_deleted.json"))
    api.post(RULES, body=fixture("stream_rules_added.json"))
    api.get(STREAM, body=body(LINES))
    src = source(clock, max_reads=len(LINES))

    envelopes = list(src.envelopes())

    assert envelopes == [parse_line(line) for line in LINES]
    assert [e.raw for e in envelopes] == LINES  # the bytes X sent, unchanged
    # Stale rules (another value, or the right value with another tag) go, missing ones come.
    assert post_bodies(api) == [
        {"delete": {"ids": ["1861345987654321400", "1861345987654321405"]}},
        {"add": [{"value": "#kafka", "tag": "#kafka"}]},
    ]
    assert [call.request.method for call in api.calls] == ["GET", "POST", "POST", "GET"]
    (connection,) = stream_calls(api)
    sent = {k: v[0] for k, v in parse_qs(urlsplit(connection.request.url).query).items()}
    assert sent == {
        "expansions": "author_id,referenced_tweets.id,entities.mentions.username",
        "tweet.fields": "created_at,lang,public_metrics,entities,conversation_id,"
        "referenced_tweets,possibly_sensitive,edit_history_tweet_ids",
        "user.fields": "username,name,verified,public_metrics",
    }
    assert connection.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert src.reads == len(LINES)
    assert ended(src)
    # tweepy logged the rules requests with their headers, redacted.
    logged = [r.getMessage() for r in caplog.records if r.name == "tweepy.client"]
    assert any("Bearer ***" in line for line in logged)


@pytest.mark.parametrize(
    ("existing", "rules", "posts"),
    [
        (
            "stream_rules_none.json",
            ["#python"],
            [{"add": [{"value": "#python", "tag": "#python"}]}],
        ),
        (
            "stream_rules_existing.json",
            ["#python lang:en"],
            [{"delete": {"ids": ["1861345987654321400", "1861345987654321405"]}}],
        ),
    ],
)
def test_rules_sync_only_changes_what_differs(api, clock, existing, rules, posts):
    api.get(RULES, body=fixture(existing))
    api.post(RULES, body=fixture("stream_rules_added.json"))
    api.get(STREAM, body=body(LINES[:1]))

    assert len(list(source(clock, rules=rules, max_reads=1).envelopes())) == 1
    assert post_bodies(api) == posts


def test_rules_already_in_place_are_left_alone(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    api.get(STREAM, body=body(LINES[:2]))

    assert len(list(source(clock, max_reads=2).envelopes())) == 2
    assert post_bodies(api) == []


def test_a_rule_x_rejects_is_an_error_before_connecting(api, clock):
    api.get(RULES, body=fixture("stream_rules_none.json"))
    api.post(RULES, body=fixture("stream_rules_invalid.json"))
    api.get(STREAM, body=body(LINES))

    with pytest.raises(XApiError) as caught:
        list(source(clock, rules=["#python lang:xx"]).envelopes())

    assert str(caught.value) == (
        "X rejected the stream rule '#python lang:xx': UnprocessableEntity; "
        "Reference to invalid language code 'xx' (at position 14)"
    )
    assert stream_calls(api) == []


def test_keep_alives_and_system_messages_are_skipped_and_not_billed(api, clock, caplog):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    notice = fixture("stream_operational_disconnect.json").strip().encode()
    api.get(STREAM, body=body([LINES[0], notice, LINES[1]]))
    src = source(clock, max_reads=2)

    envelopes = list(src.envelopes())

    assert envelopes == [parse_line(LINES[0]), parse_line(LINES[1])]
    assert src.reads == 2
    assert "operational-disconnect" in caplog.text


# -- the read budget -------------------------------------------------------------------------


def test_budget_disconnects_after_max_reads(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    api.get(STREAM, body=body(LINES))  # 6 posts on offer
    src = source(clock, max_reads=2)

    envelopes = list(src.envelopes())  # ends by itself

    assert envelopes == [parse_line(LINES[0]), parse_line(LINES[1])]
    assert src.reads == 2
    assert len(stream_calls(api)) == 1
    assert ended(src)
    assert src.summary() == (
        "read 2 posts from the X API, estimated cost $0.01 at $0.005 per post read"
    )


def test_stream_closed_by_x_is_reopened_until_the_budget_is_spent(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    api.get(STREAM, body=body(LINES[:2]))
    api.get(STREAM, body=body(LINES[2:5]))
    src = source(clock, max_reads=4)

    envelopes = list(src.envelopes())

    assert envelopes == [parse_line(line) for line in LINES[:4]]
    assert len(stream_calls(api)) == 2
    assert clock.sleeps and sum(clock.sleeps) == pytest.approx(0.25)  # X's first network step


# -- errors: fatal ones end it, passing ones back off ------------------------------------------


def test_401_ends_with_xapierror_and_no_retry(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    api.get(STREAM, body=fixture("error_401.json"), status=401)
    api.get(STREAM, body=body(LINES))  # what a retry would get
    src = source(clock)

    with pytest.raises(XApiError) as caught:
        list(src.envelopes())

    assert str(caught.value) == "the X API refused the bearer token (401): check X_BEARER_TOKEN"
    assert len(stream_calls(api)) == 1
    assert clock.sleeps == []
    assert ended(src)
    assert_token_free(caught.value)


def test_403_client_not_enrolled_ends_with_xapierror_and_no_retry(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    api.get(STREAM, body=fixture("error_403_client_not_enrolled.json"), status=403)
    api.get(STREAM, body=body(LINES))
    src = source(clock)

    with pytest.raises(XApiError) as caught:
        list(src.envelopes())

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the X API refused access to the filtered stream (403)")
    for words in (
        "client-not-enrolled",
        "Client Forbidden",
        "X API plan",
        "--source x-poll or --source simulate",
    ):
        assert words in message
    assert len(stream_calls(api)) == 1
    assert ended(src)
    assert_token_free(caught.value)


def test_403_on_the_rules_never_opens_the_stream(api, clock):
    api.get(RULES, body=fixture("error_403_client_not_enrolled.json"), status=403)
    api.get(STREAM, body=body(LINES))

    with pytest.raises(XApiError, match=r"filtered stream \(403\).*client-not-enrolled"):
        list(source(clock).envelopes())

    assert stream_calls(api) == []


def test_429_waits_until_the_rate_limit_resets_then_reconnects(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    reset = int(clock.now) + 42
    api.get(
        STREAM,
        body=fixture("error_429.json"),
        status=429,
        headers={"x-rate-limit-reset": str(reset)},
    )
    api.get(STREAM, body=body(LINES[:3]))
    src = source(clock, max_reads=3)

    envelopes = list(src.envelopes())

    assert envelopes == [parse_line(line) for line in LINES[:3]]
    assert len(stream_calls(api)) == 2
    assert sum(clock.sleeps) == pytest.approx(43.0)


def test_server_errors_back_off_exponentially(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    api.get(STREAM, body=fixture("error_503.json"), status=503)
    api.get(STREAM, body=fixture("error_503.json"), status=503)
    api.get(STREAM, body=body(LINES[:1]))
    src = source(clock, max_reads=1)

    assert len(list(src.envelopes())) == 1
    assert len(stream_calls(api)) == 3
    assert sum(clock.sleeps) == pytest.approx(5.0 + 10.0)


def test_close_cuts_a_back_off_short(api):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    api.get(STREAM, body=fixture("error_503.json"), status=503)  # then a 5 s wait, real time
    src = XStreamSource(["#python lang:en", "#kafka"], max_reads=10, token=TOKEN)
    done = threading.Event()
    consumer = threading.Thread(target=lambda: (list(src.envelopes()), done.set()), daemon=True)
    consumer.start()
    deadline = time.monotonic() + 5
    while not stream_calls(api) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(stream_calls(api)) == 1

    src.close()
    assert done.wait(5.0)
    assert ended(src, timeout=5.0)  # the supervisor left its wait too: tweepy's would not
    assert len(stream_calls(api)) == 1


# -- close() while the stream is open -----------------------------------------------------------


def test_close_ends_envelopes_promptly_while_the_stream_is_open(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    pipe = _Pipe()
    api.get(STREAM, body=io.BufferedReader(pipe))
    src = source(clock)
    # One post, padded with keep-alives to a whole read (urllib3 reads 512 bytes at a time).
    first = LINES[0] + b"\r\n"
    padding = -len(first) % 512
    pipe.write_stream(first + KEEP_ALIVE * (padding // 2) + b"\n" * (padding % 2))
    received, done = [], threading.Event()

    def consume() -> None:
        received.extend(src.envelopes())
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    try:
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == [parse_line(LINES[0])]

        src.close()  # tweepy's thread is still blocked reading the open stream
        assert done.wait(5.0)  # well before tweepy's 21 s read timeout would end it
        assert received == [parse_line(LINES[0])]
    finally:
        pipe.end()
    assert ended(src)  # and once X sends anything (here: the end), it stops without reconnecting
    assert len(stream_calls(api)) == 1


def test_leaving_the_loop_early_closes_the_stream(api, clock):
    rules_unchanged(api, ["#python lang:en", "#kafka"])
    api.get(STREAM, body=body(LINES))
    # A one-slot queue holds the reader back, so it cannot spend the whole budget (it
    # reconnects to the same recorded body) before the loop is left.
    src = source(clock, max_reads=100, queue_size=1)

    for _envelope in src.envelopes():
        break

    assert ended(src)
    assert src.reads < 100


# -- construction ------------------------------------------------------------------------------


def test_missing_token_is_a_one_line_instruction(monkeypatch):
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)

    with pytest.raises(MissingCredential) as caught:
        XStreamSource(["#python"], max_reads=10)

    assert str(caught.value) == (
        "X_BEARER_TOKEN is not set: export the app-only Bearer token of an X developer app, "
        "or use --source simulate"
    )


def test_token_never_shows_in_repr(clock):
    src = source(clock)
    assert TOKEN not in repr(src)
    assert TOKEN not in repr(src._stream)
    assert TOKEN not in src.summary()


@pytest.mark.parametrize("rules", [[], [""], ["   "]])
def test_at_least_one_rule_is_needed(clock, rules):
    with pytest.raises(ValueError, match="at least one"):
        source(clock, rules=rules)


def test_max_reads_must_be_positive(clock):
    with pytest.raises(ValueError, match="max_reads"):
        source(clock, max_reads=0)
