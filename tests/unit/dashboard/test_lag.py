"""The drain estimate judges each partition on its own samples."""

from __future__ import annotations

import pandas as pd

from dashboard.lag import drain_estimate


def history(lags: dict[int, list[int]], step_ms: int = 1000) -> pd.DataFrame:
    """Samples one ``step_ms`` apart of the lag of each partition of ``tweets``."""
    rows = [
        {"ts_ms": i * step_ms, "topic": "tweets", "partition": p, "committed": 0, "lag": lag}
        for p, series in lags.items()
        for i, lag in enumerate(series)
    ]
    return pd.DataFrame(rows)


def test_a_partition_whose_lag_grows_is_not_draining_whatever_the_others_do():
    # A worker was killed: partition 2 grows while the others drain fast, so the total falls.
    lags = {0: [9000, 6000, 3000, 100], 1: [9000, 6000, 3000, 100], 2: [100, 200, 300, 400]}
    said = drain_estimate(history(lags))
    assert said == "Lag 600: not draining — the lag of tweets:2 is not falling."


def test_the_drain_time_is_the_slowest_partition_at_its_own_rate():
    # Partition 0 falls 100/s from 1,000 (10 s left); partition 1 falls 10/s from 200 (20 s).
    lags = {0: [1300, 1200, 1100, 1000], 1: [230, 220, 210, 200]}
    said = drain_estimate(history(lags))
    assert said == (
        "Lag 1,200 drains in about 20 s (the slowest partition, tweets:1, at its own rate)."
    )


def test_no_lag_is_caught_up_and_one_sample_promises_nothing():
    assert drain_estimate(history({0: [5, 0], 1: [0, 0]})) == "No lag: the group is caught up."
    assert drain_estimate(history({0: [50]})) == (
        "Lag 50: not enough samples yet to tell how fast it drains."
    )
