"""A checkpoint the stats reader cannot read is a fresh start, never a crash."""

from __future__ import annotations

from dashboard.stats_reader import StatsReader
from dashboard.store import Store


def test_an_unreadable_checkpoint_starts_afresh_and_forgets_the_old_analytics(tmp_path):
    store = Store(tmp_path / "dashboard.sqlite")
    store.write_analytics([], {"tweets": 5, "malformed": 0, "retweets": 0, "replies": 0,
                               "sentiment_sum": 0.0, "labels": {}, "languages": {},
                               "top_hashtags": [], "top_authors": []})  # fmt: skip
    store.write_checkpoint(b"not a pickle")
    reader = StatsReader({"bootstrap.servers": "127.0.0.1:1"}, store)
    try:
        assert reader.progress.offsets == {} and reader.progress.folder.applied == 0
        assert store.analytics_totals() is None and store.checkpoint() is None
    finally:
        reader.close()
        store.close()
