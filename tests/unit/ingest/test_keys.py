"""The three message keys ingest can use: author id, first hashtag, or none."""

from __future__ import annotations

from chirpstream.tweets import Envelope
from ingest.publisher import key_function

TAGGED = Envelope(b"{}", "1", "42", ("Kafka", "python"), 0)
UNTAGGED = Envelope(b"{}", "2", "42", (), 0)


def test_author_keys_every_tweet_by_its_author():
    key = key_function("author")
    assert (key(TAGGED), key(UNTAGGED)) == (b"42", b"42")


def test_hashtag_keys_by_the_first_tag_in_lower_case_and_untagged_tweets_by_none():
    key = key_function("hashtag")
    assert (key(TAGGED), key(UNTAGGED)) == (b"kafka", None)


def test_none_leaves_the_partition_to_the_producer():
    key = key_function("none")
    assert (key(TAGGED), key(UNTAGGED)) == (None, None)
