"""The shared chart helpers: one colour per partition everywhere, a break at each gap."""

from __future__ import annotations

import pandas as pd

from dashboard.charts import GAP_MS, PALETTE, category_scale, with_gaps


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
