"""Crash before commit, as a picture: a range read twice, counted once.

A worker armed with ``SIGUSR1`` dies after publishing a run's results and before committing
its offsets (``consumers.crash``), printing one line: per partition, the offsets it processed
and did not commit. This module puts that line next to what the collector sampled:

- ``crashes``: the crash lines found in the services' logs (the bundled pipeline's
  ``<data-dir>/logs/``), newest last;
- ``rereads``: for each uncommitted range, the member the group gave the partition to next
  (the first sampled assignment of it to another client after the crash) and when the group's
  committed offset passed the range's end: that member read the range again, from the
  committed offset (at-least-once);
- ``picture``: the crashed member's range and the re-reader's range, one row per partition,
  offsets to scale;
- ``repeated``: the results for those ranges the fold dropped as repeats (the store's
  ``repeats``, written by the stats reader): the same source range published twice;
- ``read_twice`` and ``totals_picture``: tweets read (with the re-reads) against the tweets
  the fold counted, which are each tweet once: the re-reader cut the same runs again and
  published the same results, and the fold keeps one result per source range
  (``consumers.fold``).

On an external cluster the re-reader, the commits and the totals come from what any Kafka
client reads; the crash itself is known only from the worker's line, so the page needs the
workers' logs (the bundled pipeline's) or the line pasted in.
"""

from __future__ import annotations

import re
from pathlib import Path

import altair as alt
import pandas as pd

from consumers.crash import Crash, parse_crash_line
from dashboard.charts import PALETTE

LOG_TAIL_BYTES = 4 << 20  # per log file: a crash line is searched for in its last 4 MiB
CRASHED = "processed, not committed"
REREAD = "read again"
ROLE_COLOURS = {CRASHED: PALETTE[2], REREAD: PALETTE[4]}
READ = "tweets read (with re-reads)"
COUNTED = "tweets counted (once)"


def crashes(logs: Path) -> list[Crash]:
    """The crash lines in the tail of every ``*.log`` under ``logs``, oldest first."""
    found: list[Crash] = []
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        with log.open("rb") as file:
            file.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
            text = file.read().decode(errors="replace")
        found += [c for c in map(parse_crash_line, text.splitlines()) if c is not None]
    return sorted(found, key=lambda crash: crash.at_ms)


def _owner_after(members: pd.DataFrame, crash: Crash, topic: str, partition: int) -> str | None:
    """The first client other than the crashed one sampled owning the partition after it."""
    later = members[(members["ts_ms"] >= crash.at_ms) & (members["client_id"] != crash.client_id)]
    owns = (
        later["assignment"]
        .fillna("")
        .str.contains(rf"(?:^|,){re.escape(f'{topic}:{partition}')}(?:,|$)")
    )
    owners = later.loc[owns, "client_id"]
    return str(owners.iloc[0]) if len(owners) else None


def _passed_at(
    offsets: pd.DataFrame, crash: Crash, topic: str, partition: int, last: int
) -> int | None:
    """When the group's committed offset of the partition first passed ``last`` after it."""
    mine = offsets[
        (offsets["ts_ms"] >= crash.at_ms)
        & (offsets["topic"] == topic)
        & (offsets["partition"] == partition)
        & (offsets["committed"] > last)
    ]
    return int(mine["ts_ms"].min()) if len(mine) else None


def rereads(crash: Crash, members: pd.DataFrame, offsets: pd.DataFrame) -> pd.DataFrame:
    """One row per uncommitted range: topic, partition, first, last, records, crashed (client),
    reread_by (client, None until sampled), committed_past_ms (None until the group's commit
    passes the range). ``members`` is ``Store.member_samples``, ``offsets``
    ``Store.lag_history`` of the group."""
    rows = [
        {
            "topic": r.topic,
            "partition": r.partition,
            "first": r.first,
            "last": r.last,
            "records": r.records,
            "crashed": crash.client_id,
            "reread_by": _owner_after(members, crash, r.topic, r.partition),
            "committed_past_ms": _passed_at(offsets, crash, r.topic, r.partition, r.last),
        }
        for r in crash.ranges
    ]
    columns = ["topic", "partition", "first", "last", "records", "crashed", "reread_by"]
    return pd.DataFrame(rows, columns=[*columns, "committed_past_ms"])


def read_twice(ranges: pd.DataFrame) -> int:
    """Records of the ranges another member has read again (its commit passed them)."""
    return int(ranges.loc[ranges["committed_past_ms"].notna(), "records"].sum())


def picture(ranges: pd.DataFrame) -> alt.LayerChart:
    """Per partition, the crashed member's uncommitted range and the re-reader's same range."""
    rows = []
    for row in ranges.itertuples():
        label, span = f"{row.topic}[{row.partition}]", (row.first, row.last + 1, row.records)
        rows.append((label, CRASHED, row.crashed, *span))
        if pd.notna(row.committed_past_ms):
            rows.append((label, REREAD, row.reread_by or "another member", *span))
    frame = pd.DataFrame(rows, columns=["partition", "role", "member", "first", "end", "records"])
    frame["text"] = [f"{r.member}: {r.first}..{r.end - 1}" for r in frame.itertuples()]
    base = alt.Chart(frame).encode(
        y=alt.Y("partition:N", title=None),
        yOffset=alt.YOffset("role:N", sort=[CRASHED, REREAD]),
    )
    bars = base.mark_bar(height={"band": 0.45}).encode(
        x=alt.X("first:Q", title="offset", scale=alt.Scale(zero=False)),
        x2="end:Q",
        color=alt.Color(
            "role:N",
            title=None,
            scale=alt.Scale(domain=list(ROLE_COLOURS), range=list(ROLE_COLOURS.values())),
            legend=alt.Legend(orient="top"),
        ),
        tooltip=["partition", "role", "member", "first", "end", "records"],
    )
    labels = base.mark_text(align="left", dx=4, color="white").encode(x="first:Q", text="text:N")
    return (bars + labels).properties(height=70 * max(1, len(ranges)))


def totals_picture(counted: int, reread: int) -> alt.Chart:
    """Two bars: the tweets read, re-reads included, and the tweets the fold counted."""
    frame = pd.DataFrame({"what": [READ, COUNTED], "tweets": [counted + reread, counted]})
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("what:N", title=None, sort=[READ, COUNTED]),
            x=alt.X("tweets:Q", title="tweets"),
            color=alt.Color("what:N", legend=None, scale=alt.Scale(range=[PALETTE[1], PALETTE[0]])),
            tooltip=["what", "tweets"],
        )
        .properties(height=110)
    )


def repeated(ranges: pd.DataFrame, repeats: pd.DataFrame) -> pd.DataFrame:
    """The repeats (``Store.repeats``) of results starting inside one of the ranges: partition,
    offsets ("first..last"), tweets, ts_ms."""
    inside = pd.Series(False, index=repeats.index)
    for row in ranges.itertuples():
        inside |= (
            (repeats["partition"] == row.partition)
            & (repeats["first_offset"] >= row.first)
            & (repeats["first_offset"] <= row.last)
        )
    chosen = repeats[inside]
    offsets = [
        f"{a}..{b}" for a, b in zip(chosen["first_offset"], chosen["last_offset"], strict=True)
    ]
    return pd.DataFrame(
        {
            "partition": chosen["partition"],
            "offsets": offsets,
            "tweets": chosen["tweets"],
            "ts_ms": chosen["ts_ms"],
        }
    )


def why(ranges: pd.DataFrame, repeats: pd.DataFrame) -> str:
    """The sentence under the totals; ``repeats`` is what ``repeated`` returned."""
    return (
        "The crashed worker had published the results of these offsets but not committed them,"
        " so the next owner started again at the committed offset, cut the same runs and"
        " published the same results. The fold keeps one result per source range (partition,"
        f" first offset): it dropped {len(repeats):,} results published twice for these ranges"
        f" ({int(repeats['tweets'].sum()):,} tweets), and a longer result for a range replaces"
        f" the shorter one. Read twice, counted once: {read_twice(ranges):,} records."
    )
