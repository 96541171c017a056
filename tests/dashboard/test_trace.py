"""``dashboard.trace.follow`` on a store this test fills, where a cluster or a record gives
less than the bundled pipeline does: no log end offsets probed, a LogAppendTime topic, a
result without the workers' headers, ``tweet-stats`` not read."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import trace
from dashboard.rows import ClusterSample, MemberRow, PartitionRow
from dashboard.store import Store
from dashboard.trace_reader import ResultRecord, Results, TweetRecord

T = 1_800_000_000_000
OFFSET = 4


@pytest.fixture
def store(tmp_path) -> Store:
    """Partition 0 on replicas 1, 2, 3 (log end offsets not probed): offset 4 committed at
    the second sample, replica 3 out of the ISR then; member m-b owns the partition from
    T+1000 on, m-a before."""
    store = Store(tmp_path / "dashboard.sqlite")
    for at, high, isr, owner in ((0, 4, [1, 2, 3], "m-a"), (1000, 6, [1, 2], "m-b")):
        store.write_sample(
            ClusterSample(
                ts_ms=T + at,
                partitions=[PartitionRow("tweets", 0, 1, [1, 2, 3], isr, 0, high)],
                members=[MemberRow("analytics", owner, f"client-{owner}", "/h", [("tweets", 0)])],
                took_ms=5,
            )
        )
    return store


def test_without_log_end_offsets_the_isr_at_the_high_watermark_holds_it(store):
    traced = trace.follow(store, TweetRecord(0, OFFSET, "k", T + 10, False, "t"), None)
    holds = dict(zip(traced.replicas["replica"], traced.replicas["holds_since_ms"], strict=True))
    assert holds[1] == holds[2] == T + 1005
    assert pd.isna(holds[3])  # not in the ISR then: not known to hold it
    assert traced.replicas["in_isr"].tolist() == [True, True, False]
    assert traced.hop(trace.COMMITTED).at_ms == T + 1005
    assert traced.hop(trace.APPENDED).at_ms == T + 1005  # the leader had it by then
    for hop in (trace.READ, trace.RESULT):
        assert traced.hop(hop).at_ms is None and traced.hop(hop).how == "tweet-stats not read"


def test_a_log_append_time_topic_gives_the_append_time_not_the_produce_time(store):
    traced = trace.follow(store, TweetRecord(0, OFFSET, "k", T + 10, True, "t"), None)
    assert traced.hop(trace.PRODUCED).at_ms is None
    assert traced.hop(trace.APPENDED) == trace.Hop(
        trace.APPENDED, T + 10, trace.EXACT, "record timestamp (LogAppendTime)"
    )
    table = traced.table().set_index("hop")
    assert table.loc[trace.APPENDED, "after_ms"] == 0  # the first time known
    assert table.loc[trace.COMMITTED, "after_ms"] == 995


def test_a_result_without_headers_names_the_owner_the_samples_show(store):
    result = ResultRecord(9, 0, 2, 6, 5, T + 1200, None, None)
    traced = trace.follow(
        store, TweetRecord(0, OFFSET, "k", T + 10, False, "t"), Results(result, result, True, 3)
    )
    assert (traced.member_id, traced.client_id) == ("m-b", "client-m-b")
    read = traced.hop(trace.READ)
    assert read.at_ms is None and read.how == "result 9 has no read.ms header"
    assert traced.hop(trace.RESULT).at_ms == T + 1200


def test_a_high_watermark_read_after_the_log_ends_dates_the_append_and_the_copies(tmp_path):
    # The collector reads the log end offsets before the groups and the high watermark after
    # them: one sample can show the high watermark past the tweet and the log ends not yet.
    store = Store(tmp_path / "dashboard.sqlite")
    for at, high, end in ((0, 5, 4), (1000, 6, 6)):
        store.write_sample(
            ClusterSample(
                ts_ms=T + at,
                partitions=[
                    PartitionRow(
                        "tweets", 0, 1, [1, 2], [1, 2], 0, high, log_ends=[(1, end), (2, end)]
                    )
                ],
                took_ms=5,
            )
        )
    traced = trace.follow(store, TweetRecord(0, OFFSET, "k", T + 10, False, "t"), None)
    assert traced.hop(trace.COMMITTED).at_ms == T + 5
    assert traced.hop(trace.APPENDED).at_ms == T + 5
    assert traced.replicas["holds_since_ms"].tolist() == [T + 5, T + 5]
