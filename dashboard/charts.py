"""Charts a class can read on a projector, the same on every page.

- Partitions (and topics, groups) are categories: each gets a colour of one categorical
  palette, partition ``p`` always ``PALETTE[p % len(PALETTE)]`` on every page.
- Time axes are labelled with the viewer's time zone; Vega draws epoch times in the browser's
  local time.
- A line breaks where samples are missing (more than ``GAP_MS`` between two samples of a
  series) instead of drawing a ramp over the gap.
- Cluster events (``dashboard.cluster_events``) are marked on a time chart as grey vertical
  rules, one dash pattern per kind, the event's text as the tooltip, so a dip in throughput
  or a jump in lag can be read against the election or rebalance that caused it.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

# Tableau 10: ten hues told apart on a projector, and by most colour-blind viewers.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
GAP_MS = 2500  # the collector samples every second: more than this between two is a gap
# Each event kind's name in the legend, and its dash pattern (in the order of EVENT_KINDS).
EVENT_MARKS = {
    "leader_election": ("leader election", [1, 0]),
    "isr_shrink": ("ISR shrink", [6, 3]),
    "isr_expand": ("ISR expand", [2, 2]),
    "broker_state": ("broker state", [8, 2, 2, 2]),
    "controller_change": ("controller change", [12, 4]),
    "rebalance": ("group rebalance", [1, 3]),
}


def viewer_timezone() -> str:
    """The browser's time zone name (UTC when unknown, as under AppTest)."""
    return st.context.timezone or "UTC"


def time_title() -> str:
    return f"Time ({viewer_timezone()})"


def local_times(epoch_ms: pd.Series) -> pd.Series:
    """Epoch milliseconds as the viewer's local times, for tables."""
    return pd.to_datetime(epoch_ms, unit="ms", utc=True).dt.tz_convert(viewer_timezone())


def category_scale(values: Sequence[object]) -> alt.Scale:
    """Colours for categories: integers (partitions) by number, anything else by order."""

    def order(value: object) -> tuple[int, int, str]:
        if isinstance(value, int | np.integer):
            return (0, int(value), "")
        return (1, 0, str(value))

    domain = sorted(set(values), key=order)
    colours = [
        PALETTE[int(v) % len(PALETTE)] if isinstance(v, int | np.integer) else PALETTE[i % 10]
        for i, v in enumerate(domain)
    ]
    return alt.Scale(domain=[v.item() if hasattr(v, "item") else v for v in domain], range=colours)


def with_gaps(frame: pd.DataFrame, series: str | None, y: str, ts: str = "ts_ms") -> pd.DataFrame:
    """``frame`` with a row whose ``y`` is missing after each sample followed by a gap, so
    the line breaks there."""
    if frame.empty:
        return frame
    groups = [frame] if series is None else [g for _, g in frame.groupby(series)]
    breaks = []
    for group in groups:
        group = group.sort_values(ts)
        after = group[group[ts].diff().shift(-1) > GAP_MS]
        if len(after):
            filler = after.copy()
            filler[ts] = after[ts] + GAP_MS // 2
            filler[y] = np.nan
            breaks.append(filler)
    return pd.concat([frame, *breaks]).sort_values(ts) if breaks else frame


def events_for(
    events: pd.DataFrame, *, topics: Sequence[str] = (), groups: Sequence[str] = ()
) -> pd.DataFrame:
    """The events a chart of ``topics`` and ``groups`` shows: those of the topics'
    partitions, the rebalances of the groups, and every broker and controller change."""
    if events.empty:
        return events
    kind = events["kind"]
    cluster_wide = kind.isin(("broker_state", "controller_change"))
    of_topics = events["topic"].isin(list(topics))
    rebalance_texts = tuple(f"Group {group} rebalanced" for group in groups)
    of_groups = (kind == "rebalance") & events["text"].str.startswith(rebalance_texts)
    return events[cluster_wide | of_topics | of_groups]


def event_rules(events: pd.DataFrame) -> alt.Chart:
    """A grey vertical rule at each event, dashed by kind, its text as the tooltip."""
    names = {kind: name for kind, (name, _) in EVENT_MARKS.items()}
    data = events.assign(
        time=pd.to_datetime(events["ts_ms"], unit="ms", utc=True),
        event=events["kind"].map(names),
    )[["time", "event", "text"]]
    shown = [mark for kind, mark in EVENT_MARKS.items() if kind in set(events["kind"])]
    dashes = alt.Scale(domain=[name for name, _ in shown], range=[dash for _, dash in shown])
    return (
        alt.Chart(data)
        .mark_rule(color="#555555", strokeWidth=1.5, opacity=0.8)
        .encode(
            x="time:T",
            strokeDash=alt.StrokeDash(
                "event:N",
                scale=dashes,
                legend=alt.Legend(title="cluster event", orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("time:T", format="%H:%M:%S"),
                alt.Tooltip("event:N"),
                alt.Tooltip("text:N", title="what happened"),
            ],
        )
    )


def lines(
    frame: pd.DataFrame,
    y: str,
    color: str | None = None,
    *,
    title: str | None = None,
    ts: str = "ts_ms",
    height: int = 260,
    events: pd.DataFrame | None = None,
) -> alt.Chart | alt.LayerChart:
    """One line per ``color`` category over time, broken where samples are missing, with a
    rule at each of ``events`` that falls within its time span."""
    data = with_gaps(frame, color, y, ts).copy()
    data["time"] = pd.to_datetime(data[ts], unit="ms", utc=True)
    encoding = {
        "x": alt.X("time:T", title=time_title(), axis=alt.Axis(format="%H:%M:%S")),
        "y": alt.Y(f"{y}:Q", title=title or y.replace("_", " "), axis=alt.Axis(format=",.4~f")),
        "tooltip": [alt.Tooltip("time:T", format="%H:%M:%S"), f"{y}:Q"],
    }
    if color is not None:
        encoding["color"] = alt.Color(
            f"{color}:N", scale=category_scale(frame[color].tolist()), title=color
        )
        encoding["tooltip"].append(f"{color}:N")
    line = alt.Chart(data).mark_line(invalid="break-paths-show-domains")  # a gap is a gap
    chart = line.encode(**encoding).properties(height=height)
    if events is None or events.empty or frame.empty:
        return chart
    during = events[events["ts_ms"].between(frame[ts].min(), frame[ts].max())]
    if during.empty:
        return chart
    return alt.layer(chart, event_rules(during)).properties(height=height)


def bars(
    frame: pd.DataFrame, x: str, y: str, *, color: str | None = None, height: int = 260
) -> alt.Chart:
    """Horizontal bars of ``x`` per ``y`` category, the largest on top."""
    encoding = {
        "x": alt.X(f"{x}:Q", title=x),
        "y": alt.Y(f"{y}:N", sort="-x", title=y),
        "tooltip": [f"{y}:N", f"{x}:Q"],
    }
    if color is not None:
        encoding["color"] = alt.Color(
            f"{color}:N", scale=category_scale(frame[color].tolist()), legend=None
        )
    return alt.Chart(frame).mark_bar().encode(**encoding).properties(height=height)


def show(chart: alt.Chart | alt.LayerChart) -> None:
    st.altair_chart(chart, width="stretch")
