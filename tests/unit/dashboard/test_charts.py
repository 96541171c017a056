"""The shared chart helpers: one colour per partition everywhere, a break at each gap, and
which cluster events a chart marks."""

from __future__ import annotations

import pandas as pd

from dashboard.charts import GAP_MS, PALETTE, category_scale, events_for, with_gaps


def test_a_partition_has_the_same_colour_whichever_partitions_are_shown():
    some = category_scale([5, 2])
    assert some.domain == [2, 5] and some.range == [PALETTE[2], PALETTE[5]]
    many = category_scale(list(range(12)))
    assert many.domain == list(range(12))  # by number, not 0, 1, 10, 11, 2, ...
    assert many.range[5] == PALETTE[5] and many.range[11] == PALETTE[1]


def test_each_gap_in_a_series_gets_one_break_and_nothing_else_moves():
    frame = pd.DataFrame(
        {
            "ts_ms": [0, 1000, 2000, 9000, 10000] * 2,
            "partition": [0] * 5 + [1] * 5,
            "lag": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        }
    )
    broken = with_gaps(frame, "partition", "lag")
    assert len(broken) == len(frame) + 2  # one break per partition
    breaks = broken[broken["lag"].isna()]
    assert sorted(breaks["partition"]) == [0, 1]
    assert set(breaks["ts_ms"]) == {2000 + GAP_MS // 2}
    assert sorted(broken.dropna()["lag"]) == sorted(frame["lag"])
    assert with_gaps(frame[frame["ts_ms"] < 3000], "partition", "lag").equals(
        frame[frame["ts_ms"] < 3000]
    )


def test_a_chart_marks_its_topics_and_groups_events_and_every_broker_change():
    events = pd.DataFrame(
        [
            (1, "leader_election", "tweets", 0, 2, "Leader of tweets-0: 0 → 2"),
            (2, "isr_shrink", "clicks", 0, 1, "ISR of clicks-0 shrank: [0,1] → [0]"),
            (3, "broker_state", None, None, 1, "Broker 1: running → stopped"),
            (4, "controller_change", None, None, 0, "Active controller: 1 → 0"),
            (5, "rebalance", None, None, None, "Group a rebalanced: generation 1 → 2"),
            (6, "rebalance", None, None, None, "Group ab rebalanced: generation 4 → 5"),
        ],
        columns=["ts_ms", "kind", "topic", "partition", "node_id", "text"],
    )
    assert list(events_for(events, topics=["tweets"])["ts_ms"]) == [1, 3, 4]
    assert list(events_for(events, groups=["a"])["ts_ms"]) == [3, 4, 5]  # not group "ab"
    assert list(events_for(events, topics=["clicks"], groups=["ab"])["ts_ms"]) == [2, 3, 4, 6]
    assert events_for(events.iloc[:0], topics=["tweets"]).empty
