"""analyze(): the fields taken from an envelope, VADER's labels, and what counts as malformed."""

from __future__ import annotations

import itertools
import json

import pytest

from chirpstream.tweets import MalformedTweet, parse_line
from consumers import features as features_module
from consumers.features import Features, analyze, sentiment_label, window_start_ms
from ingest.simulate import simulated_envelopes
from tests.unit.consumers.support import START_MS, envelope


def test_fields_of_an_original_tweet():
    raw = envelope(
        "Loving the #Python and #AI talk with @BobSmith #python",
        tweet_id="1866000000000000123",
        author_id="314",
        username="Carol",
        created_at="2026-11-25T14:00:01.999Z",
        lang="de",
        hashtags=[(11, "Python"), (23, "AI"), (48, "python")],
        mentions=[(37, "BobSmith")],
    )
    f = analyze(raw)
    assert isinstance(f, Features)
    assert f.tweet_id == "1866000000000000123"
    assert f.author_id == "314"
    assert f.username == "Carol"
    assert f.lang == "de"
    assert f.hashtags == ("python", "ai", "python")  # lowercased, text order, duplicates kept
    assert f.mentions == ("bobsmith",)
    assert f.is_retweet is False and f.is_reply is False
    assert f.created_at_ms == START_MS + 1999
    assert f.sentiment == pytest.approx(features_module.sentiment(json.loads(raw)["data"]["text"]))
    assert f.label == "positive"


def test_entities_are_put_in_text_order():
    raw = envelope(
        "#b @y #a @x",
        hashtags=[(6, "A"), (0, "B")],
        mentions=[(9, "X"), (3, "Y")],
    )
    f = analyze(raw)
    assert f.hashtags == ("b", "a")
    assert f.mentions == ("y", "x")


def test_hashtags_and_mentions_come_from_entities_not_text():
    f = analyze(envelope("#NotAnEntity @nobody plain"))
    assert f.hashtags == () and f.mentions == ()


@pytest.mark.parametrize(
    ("references", "retweet", "reply"),
    [
        ((), False, False),
        (("retweeted",), True, False),
        (("replied_to",), False, True),
        (("quoted",), False, False),
        (("quoted", "replied_to"), False, True),
    ],
)
def test_retweet_and_reply_flags(references, retweet, reply):
    f = analyze(envelope("RT @bob: nice", references=references))
    assert (f.is_retweet, f.is_reply) == (retweet, reply)


def test_retweet_text_is_scored_as_is():
    text = "RT @grumpy: this is terrible and awful"
    f = analyze(envelope(text, references=("retweeted",)))
    assert f.sentiment == features_module.sentiment(text)
    assert f.label == "negative"


@pytest.mark.parametrize(
    ("text", "label"),
    [("I love it", "positive"), ("I hate it", "negative"), ("The table is brown", "neutral")],
)
def test_vader_labels_real_text(text, label):
    f = analyze(envelope(text))
    assert f.label == label
    assert -1.0 <= f.sentiment <= 1.0


@pytest.mark.parametrize(
    ("compound", "label"),
    [
        (0.05, "positive"),
        (0.0499, "neutral"),
        (0.0, "neutral"),
        (-0.0499, "neutral"),
        (-0.05, "negative"),
        (1.0, "positive"),
        (-1.0, "negative"),
    ],
)
def test_labels_at_vader_thresholds(compound, label, monkeypatch):
    assert sentiment_label(compound) == label
    monkeypatch.setattr(features_module, "sentiment", lambda text: compound)
    f = analyze(envelope("whatever"))
    assert (f.sentiment, f.label) == (compound, label)


def test_username_absent_or_of_someone_else():
    assert analyze(envelope(username=None)).username == ""
    raw = json.loads(envelope(author_id="42"))
    raw["includes"]["users"] = [{"id": "43", "username": "someone_else"}]
    assert analyze(json.dumps(raw).encode()).username == ""
    del raw["includes"]
    assert analyze(json.dumps(raw).encode()).username == ""


def test_lang_missing_is_undetermined():
    assert analyze(envelope(lang=None)).lang == "und"


def _without(field: str) -> bytes:
    document = json.loads(envelope())
    del document["data"][field]
    return json.dumps(document).encode()


def _with(field: str, value) -> bytes:
    document = json.loads(envelope())
    document["data"][field] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"data": {"id": "1"',  # truncated
        b"\xff\xfe\x00",  # not UTF-8
        b"",
        None,
        b"[1, 2]",
        b'"a string"',
        b'{"includes": {"users": []}}',  # JSON without data
        b'{"data": null}',
        b'{"data": "text"}',
        _without("created_at"),
        _without("id"),
        _without("author_id"),
        _without("text"),
        _with("created_at", "yesterday"),
        _with("created_at", "2026-11-25T14:00:00"),  # no time zone
        _with("created_at", 1795615200000),
        _with("text", None),
        _with("id", {"nested": 1}),
        _with("lang", 7),
        _with("entities", {"hashtags": [{"start": 0}]}),
        _with("entities", "none"),
        _with("referenced_tweets", [{"id": "1"}]),
    ],
)
def test_malformed_inputs_raise_malformed_tweet(raw):
    with pytest.raises(MalformedTweet) as caught:
        analyze(raw)
    message = str(caught.value)
    assert message and "\n" not in message


def test_ids_and_hashtags_agree_with_parse_line_on_the_simulated_stream():
    for env in itertools.islice(simulated_envelopes(5, START_MS, 50.0), 500):
        f = analyze(env.raw)
        parsed = parse_line(env.raw)
        assert (f.tweet_id, f.author_id, f.created_at_ms) == (
            parsed.tweet_id,
            parsed.author_id,
            parsed.created_at_ms,
        )
        assert f.hashtags == tuple(tag.lower() for tag in parsed.hashtags)
        assert f.username and f.lang


@pytest.mark.parametrize(
    ("ms", "window", "start"),
    [
        (START_MS, 1000, START_MS),
        (START_MS + 999, 1000, START_MS),
        (START_MS + 1000, 1000, START_MS + 1000),
        (START_MS + 61_234, 60_000, START_MS + 60_000),
        (-1, 1000, -1000),
        (0, 1000, 0),
    ],
)
def test_window_start_ms(ms, window, start):
    assert window_start_ms(ms, window) == start


def test_window_default_is_one_second():
    assert window_start_ms(START_MS + 1500) == START_MS + 1000
