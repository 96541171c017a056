"""Ingest's producer settings: batched for LINGER_MS, and the user's settings win."""

from __future__ import annotations

from ingest.publisher import LINGER_MS, producer_config


def test_tweets_linger_long_enough_to_batch_against_a_cluster():
    config = producer_config("127.0.0.1:9092", {})
    assert config["linger.ms"] == LINGER_MS >= 50
    assert (config["acks"], config["enable.idempotence"]) == ("all", True)


def test_client_settings_win_over_the_defaults():
    config = producer_config("127.0.0.1:9092", {"linger.ms": "7", "acks": "1"})
    assert (config["linger.ms"], config["acks"]) == ("7", "1")
