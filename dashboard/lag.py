"""How long a group's lag takes to drain, partition by partition.

A group's total lag can fall while one partition's grows (its owner was killed): a drain time
from the group's summed consume rate would promise seconds for a partition nobody reads. So
each partition is judged on its own recent samples: its lag drains at the rate it falls
(its own consume rate less what is produced to it), and a partition whose lag is not falling
is "not draining". The group drains when its slowest partition does.
"""

from __future__ import annotations

import pandas as pd

RECENT_MS = 10_000  # judge each partition on its samples of the last 10 s


def drain_estimate(history: pd.DataFrame) -> str:
    """One sentence from ``history`` (ts_ms, topic, partition, committed, lag) of one group."""
    if history.empty:
        return "No lag known yet."
    newest = history["ts_ms"].max()
    latest = history[history["ts_ms"] == newest]
    total = int(latest["lag"].fillna(0).sum())
    if total <= 0:
        return "No lag: the group is caught up."
    recent = history[history["ts_ms"] >= newest - RECENT_MS]
    stuck: list[str] = []
    slowest: tuple[float, str] | None = None
    for (topic, partition), rows in recent.groupby(["topic", "partition"]):
        rows = rows.dropna(subset=["lag"]).sort_values("ts_ms")
        if len(rows) < 2 or rows["lag"].iloc[-1] <= 0 or rows["ts_ms"].iloc[-1] != newest:
            continue  # caught up, or too few samples to judge
        name = f"{topic}:{partition}"
        span_s = (rows["ts_ms"].iloc[-1] - rows["ts_ms"].iloc[0]) / 1000
        fall = rows["lag"].iloc[0] - rows["lag"].iloc[-1]
        if span_s <= 0:
            continue
        if fall <= 0:
            stuck.append(name)
            continue
        seconds = rows["lag"].iloc[-1] / (fall / span_s)
        if slowest is None or seconds > slowest[0]:
            slowest = (seconds, name)
    if stuck:
        which = ", ".join(stuck[:6]) + (" …" if len(stuck) > 6 else "")
        return f"Lag {total:,}: not draining — the lag of {which} is not falling."
    if slowest is None:
        return f"Lag {total:,}: not enough samples yet to tell how fast it drains."
    return (
        f"Lag {total:,} drains in about {slowest[0]:,.0f} s "
        f"(the slowest partition, {slowest[1]}, at its own rate)."
    )
