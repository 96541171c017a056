"""x-poll against a faked recent-search endpoint, plus what both live sources share.

Every HTTP exchange is served by ``responses`` from fixtures written for this project (see
tests/fixtures/x_api/README.md); nothing here reaches the real X API.
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from chirpstream.tweets import parse_line
from ingest.x_common import (
    POST_READ_USD,
    MissingCredential,
    ReadBudget,
    XApiError,
    bearer_token,
    estimated_cost_usd,
)
from ingest.x_poll import XPollSource
from tests.unit.ingest.x_api import FIXTURES, TOKEN, FakeClock

# Tweepy 4.17.0 hard-codes this host (tweepy/client.py: host = "https://api.twitter.com").
SEARCH = "https://api.twitter.com/2/tweets/search/recent"
QUERY = "#python -is:retweet"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def source(clock: FakeClock, max_reads: int = 100, interval_s: float = 15.0) -> XPollSource:
    return XPollSource(QUERY, max_reads=max_reads, interval_s=interval_s, token=TOKEN, clock=clock)


def params(call) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def expected_documents(page: dict) -> list[dict]:
    """The stream envelopes a page should become, built here independently: oldest first."""
    users = {user["id"]: user for user in page["includes"]["users"]}
    return [
        {
            "data": tweet,
            "includes": {"users": [users[tweet["author_id"]]]},
            "matching_rules": [{"id": "poll", "tag": QUERY}],
        }
        for tweet in reversed(page["data"])
    ]


def assert_token_free(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), *map(str, exc.args)):
        assert TOKEN not in text


# -- polling ---------------------------------------------------------------------------------


def test_first_poll_yields_each_post_as_the_stream_envelope_oldest_first(api, clock):
    page = fixture("search_recent_first.json")
    api.get(SEARCH, json=page)
    poll = source(clock, max_reads=3)

    envelopes = list(poll.envelopes())

    documents = expected_documents(page)
    assert [json.loads(envelope.raw) for envelope in envelopes] == documents
    assert envelopes == [parse_line(envelope.raw) for envelope in envelopes]
    assert [e.tweet_id for e in envelopes] == [t["id"] for t in reversed(page["data"])]
    assert all(b"\n" not in envelope.raw for envelope in envelopes)  # one line each
    assert "\n" in json.loads(envelopes[-1].raw)["data"]["text"]  # ...even with a newline
    assert envelopes[-1].hashtags == ("python",)
    assert len(api.calls) == 1
    sent = params(api.calls[0])
    assert sent["query"] == QUERY
    assert "since_id" not in sent
    assert sent["max_results"] == "10"  # X's minimum, although only 3 reads are allowed
    assert sent["expansions"] == "author_id"
    assert sent["tweet.fields"].split(",") == [
        "created_at",
        "lang",
        "public_metrics",
        "entities",
        "conversation_id",
        "referenced_tweets",
        "possibly_sensitive",
        "edit_history_tweet_ids",
    ]
    assert sent["user.fields"] == "username,name,verified,public_metrics"
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert poll.reads == 3


def test_next_poll_asks_only_for_newer_posts_after_the_interval(api, clock):
    first, newer = fixture("search_recent_first.json"), fixture("search_recent_incremental.json")
    api.get(SEARCH, json=first)
    api.get(SEARCH, json=fixture("search_recent_empty.json"))
    api.get(SEARCH, json=newer)
    poll = source(clock, max_reads=5, interval_s=15.0)

    envelopes = list(poll.envelopes())

    assert [json.loads(e.raw) for e in envelopes] == (
        expected_documents(first) + expected_documents(newer)
    )
    assert len(api.calls) == 3
    assert "since_id" not in params(api.calls[0])
    # An empty poll has no newest_id: the one after it still starts from the first page.
    assert params(api.calls[1])["since_id"] == first["meta"]["newest_id"]
    assert params(api.calls[2])["since_id"] == first["meta"]["newest_id"]
    assert sum(clock.sleeps) == pytest.approx(30.0)  # two intervals, none before the first
    assert poll.reads == 5


def test_budget_sizes_each_request_and_stops_at_max_reads(api, clock):
    api.get(SEARCH, json=fixture("search_recent_12.json"))
    api.get(SEARCH, json=fixture("search_recent_10.json"))
    api.get(SEARCH, json=fixture("search_recent_incremental.json"))  # must not be asked for
    poll = source(clock, max_reads=22)

    envelopes = list(poll.envelopes())

    assert len(envelopes) == 22
    assert [params(call)["max_results"] for call in api.calls] == ["22", "10"]
    assert poll.reads == 22
    assert poll.summary() == (
        "read 22 posts from the X API, estimated cost $0.11 at $0.005 per post read"
    )


def test_max_results_never_exceeds_xs_maximum_of_100(api, clock):
    api.get(SEARCH, json=fixture("search_recent_12.json"))
    poll = source(clock, max_reads=250)
    stream = poll.envelopes()
    next(stream)
    poll.close()
    assert list(stream) == []  # close() ends it without polling again
    assert [params(call)["max_results"] for call in api.calls] == ["100"]


def test_last_poll_asks_for_ten_but_publishes_only_what_the_budget_allows(api, clock):
    twelve, ten = fixture("search_recent_12.json"), fixture("search_recent_10.json")
    api.get(SEARCH, json=twelve)
    api.get(SEARCH, json=ten)
    poll = source(clock, max_reads=15)

    envelopes = list(poll.envelopes())

    assert [params(call)["max_results"] for call in api.calls] == ["15", "10"]
    # 15 published: all 12, then the 3 oldest of the next page, in time order...
    oldest_three = [t["id"] for t in reversed(ten["data"])][:3]
    assert [e.tweet_id for e in envelopes][12:] == oldest_three
    assert len(envelopes) == 15
    # ...but X returned (and bills) 22, and the estimate says so.
    assert poll.reads == 22
    assert "read 22 posts" in poll.summary()


# -- errors and rate limits ------------------------------------------------------------------


def test_401_is_a_one_line_error_about_the_token(api, clock):
    api.get(SEARCH, json=fixture("error_401.json"), status=401)
    poll = source(clock)

    with pytest.raises(XApiError) as caught:
        list(poll.envelopes())

    assert str(caught.value) == "the X API refused the bearer token (401): check X_BEARER_TOKEN"
    assert caught.value.status == 401
    assert len(api.calls) == 1
    assert_token_free(caught.value)
    assert caught.value.__cause__ is None  # tweepy's exception holds the request headers


def test_403_client_not_enrolled_explains_and_suggests_simulate(api, clock):
    api.get(SEARCH, json=fixture("error_403_client_not_enrolled.json"), status=403)
    poll = source(clock)

    with pytest.raises(XApiError) as caught:
        list(poll.envelopes())

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the X API refused access to recent search (403)")
    for words in ("client-not-enrolled", "Client Forbidden", "--source simulate", "X API plan"):
        assert words in message
    assert len(api.calls) == 1
    assert_token_free(caught.value)


def test_400_bad_query_passes_on_xs_message(api, clock):
    api.get(SEARCH, json=fixture("error_400_bad_query.json"), status=400)

    with pytest.raises(XApiError, match=r"Reference to invalid field 'lang:'") as caught:
        list(source(clock).envelopes())

    assert str(caught.value).startswith("the X API rejected the request for recent search (400)")


def test_429_sleeps_until_the_reset_time_then_polls_again(api, clock):
    reset = int(clock.now) + 42
    asked_at: list[float] = []

    def rate_limited(request):
        asked_at.append(clock.now)
        return 429, {"x-rate-limit-reset": str(reset)}, json.dumps(fixture("error_429.json"))

    def page(request):
        asked_at.append(clock.now)
        return 200, {}, json.dumps(fixture("search_recent_first.json"))

    api.add_callback(responses.GET, SEARCH, callback=rate_limited)
    api.add_callback(responses.GET, SEARCH, callback=page)
    poll = source(clock, max_reads=3)

    envelopes = list(poll.envelopes())

    assert len(envelopes) == 3
    assert len(asked_at) == 2
    assert asked_at[1] >= reset  # not a moment before X said the limit resets
    assert sum(clock.sleeps) == pytest.approx(43.0)  # until reset, plus a second's margin
    assert params(api.calls[0]) == params(api.calls[1])  # the same request again


def test_close_while_waiting_out_a_rate_limit_ends_the_poll(api, clock):
    api.get(SEARCH, json=fixture("error_429.json"), status=429)  # no reset header: 60 s
    poll = source(clock)
    closing_clock = clock

    def sleep_then_close(seconds: float) -> None:
        FakeClock.sleep(closing_clock, seconds)
        poll.close()

    clock.sleep = sleep_then_close  # type: ignore[method-assign]

    assert list(poll.envelopes()) == []
    assert len(api.calls) == 1
    assert sum(clock.sleeps) < 60


def test_server_errors_are_retried_at_the_next_poll(api, clock):
    api.get(SEARCH, json=fixture("error_503.json"), status=503)
    api.get(SEARCH, json=fixture("search_recent_first.json"))
    poll = source(clock, max_reads=3, interval_s=15.0)

    assert len(list(poll.envelopes())) == 3
    assert len(api.calls) == 2
    assert sum(clock.sleeps) == pytest.approx(15.0)


def test_five_server_errors_in_a_row_give_up(api, clock):
    api.get(SEARCH, json=fixture("error_503.json"), status=503)

    with pytest.raises(XApiError) as caught:
        list(source(clock).envelopes())

    assert str(caught.value) == (
        "the X API's recent search failed 5 times in a row (last: 503 Service Unavailable)"
    )
    assert len(api.calls) == 5


def test_close_from_another_thread_ends_the_wait_between_polls_promptly(api):
    api.get(SEARCH, json=fixture("search_recent_first.json"))
    poll = XPollSource(QUERY, max_reads=100, interval_s=30.0, token=TOKEN)  # the real clock
    received, done = [], threading.Event()

    def consume() -> None:
        received.extend(poll.envelopes())
        done.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    deadline = time.monotonic() + 5
    while len(received) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(received) == 3  # the first page is in; the source now waits 30 s

    poll.close()
    assert done.wait(5.0)  # far inside the 30 s it would otherwise wait
    assert len(api.calls) == 1


# -- credentials, budget, cost ---------------------------------------------------------------


def test_missing_token_is_a_one_line_instruction(monkeypatch):
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)

    with pytest.raises(MissingCredential) as caught:
        XPollSource(QUERY, max_reads=10)

    assert str(caught.value) == (
        "X_BEARER_TOKEN is not set: export the app-only Bearer token of an X developer app, "
        "or use --source simulate"
    )


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_token_counts_as_missing(monkeypatch, value):
    monkeypatch.setenv("X_BEARER_TOKEN", value)
    with pytest.raises(MissingCredential, match="X_BEARER_TOKEN is not set"):
        bearer_token()


def test_token_with_spaces_is_refused_without_quoting_it(monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", f"{TOKEN} {TOKEN}")
    with pytest.raises(MissingCredential) as caught:
        bearer_token()
    assert_token_free(caught.value)


def test_token_comes_from_the_environment_and_never_shows(api, clock, monkeypatch, caplog):
    monkeypatch.setenv("X_BEARER_TOKEN", f"  {TOKEN}\n")
    api.get(SEARCH, json=fixture("search_recent_first.json"))
    poll = XPollSource(QUERY, max_reads=3, clock=clock)

    list(poll.envelopes())

    assert api.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(poll)
    assert TOKEN not in poll.summary()
    # tweepy logs every request's headers at DEBUG: the line is there, the token is not.
    requests_logged = [r.getMessage() for r in caplog.records if r.name == "tweepy.client"]
    assert any("Authorization" in line and "Bearer ***" in line for line in requests_logged)


@pytest.mark.parametrize("bad", [0, -5, True, 2.5, "10"])
def test_max_reads_must_be_a_positive_whole_number(bad, clock):
    with pytest.raises(ValueError, match="max_reads"):
        source(clock, max_reads=bad)


def test_cost_estimate_uses_the_post_read_price():
    assert POST_READ_USD == 0.005
    assert estimated_cost_usd(100) == pytest.approx(0.50)
    assert estimated_cost_usd(0) == 0
    budget = ReadBudget(100)
    budget.spend(100)
    assert budget.exhausted
    assert budget.summary() == (
        "read 100 posts from the X API, estimated cost $0.50 at $0.005 per post read"
    )
    one = ReadBudget(5)
    one.spend()
    assert one.summary() == (
        "read 1 post from the X API, estimated cost $0.005 at $0.005 per post read"
    )
