from __future__ import annotations

import json

from chirpstream.tweets import parse_line
from dashboard.produce import typed_tweet


def test_a_typed_tweet_is_a_stream_envelope_with_exact_entities():
    key, value = typed_tweet("ada", "Loving #Kafka with @bob and #python", 1_795_000_000_123)
    envelope = parse_line(value)
    assert key == b"ada"
    assert envelope.author_id == "ada"
    assert envelope.hashtags == ("Kafka", "python")
    assert envelope.created_at_ms == 1_795_000_000_123
    tweet = json.loads(value)["data"]
    for entity in tweet["entities"]["hashtags"]:
        assert tweet["text"][entity["start"] : entity["end"]] == "#" + entity["tag"]
    for entity in tweet["entities"]["mentions"]:
        assert tweet["text"][entity["start"] : entity["end"]] == "@" + entity["username"]
