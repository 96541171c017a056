"""sentiment(): exactly VADER's compound score, without asking VADER when the answer is known."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from consumers import features as features_module
from consumers.features import sentiment
from ingest.simulate import simulated_envelopes
from tests.unit.consumers.support import START_MS

VADER = SentimentIntensityAnalyzer()  # a second analyzer: the reference, untouched


def vader(text: str) -> float:
    return VADER.polarity_scores(text)["compound"]


def test_the_simulated_stream_scores_as_vader_scores_it():
    texts = [
        json.loads(env.raw)["data"]["text"]
        for env in itertools.islice(simulated_envelopes(3, START_MS, 50.0), 3000)
    ]
    sentiment.cache_clear()
    assert [sentiment(text) for text in texts] == [vader(text) for text in texts]


# Pieces that exercise VADER's rules: lexicon words, boosters, negations, "but", "kind of",
# idioms, emoticons kept whole, punctuation around words, capitals, emoji, a character whose
# lowercase is longer than itself, and plain words VADER does not know.
PIECES = [
    "good", "GOOD", "bad", "love", "hate", "no", "not", "never", "very", "kind", "of",
    "but", "least", "at", "the", "cooking", "sort", "Chair", "movie", "number", ":)", ":(",
    ":D", "<3", "!", "?", "...", "#happy", "@sad", "(great)", "ok.", "İ", "İİ", "xx",
    "🙂", "😡", "★", "⚡", "yeah right", "bad ass", "without doubt", "\u00a0",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12), st.sampled_from([" ", "", "  ", "\n"]))
def test_any_text_scores_as_vader_scores_it(pieces, separator):
    text = separator.join(pieces)
    sentiment.cache_clear()
    assert sentiment(text) == vader(text)


def test_vader_is_asked_only_for_texts_it_could_score_and_once_per_repeated_text(monkeypatch):
    asked: list[str] = []

    def counting(text: str) -> dict[str, float]:
        asked.append(text)
        return VADER.polarity_scores(text)

    monkeypatch.setattr(features_module, "_polarity_scores", counting)
    sentiment.cache_clear()
    assert sentiment("Chair movie set seek another these little.") == 0.0
    assert sentiment("Walk offer say moment second. #news") == 0.0
    assert asked == []
    retweet = "RT @carol: what a good day"
    assert sentiment(retweet) == sentiment(retweet) == vader(retweet) > 0
    assert sentiment("a day ⚡") == vader("a day ⚡")  # an emoji is spelled out, then scored
    assert asked == [retweet, "a day ⚡"]
    sentiment.cache_clear()
