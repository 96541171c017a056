"""The partition as a log: each partition of a topic drawn as a strip of offsets, with Altair.

- ``ranges``: per partition, the offsets retention has deleted (``[0, log start)``) and the
  offsets it holds (``[log start, high watermark)``); while few enough offsets fit the strip
  (``MAX_CELLS``), one cell per offset instead, numbered.
- ``marks``: per partition, labelled markers at the log start, the high watermark, each
  replica's log end offset (replicas at the same offset share one marker; a follower behind
  the leader shows how far it has copied), and each group's committed offset. A group whose
  committed offset is below the log start has lost its place: its next fetch is
  OFFSET_OUT_OF_RANGE and it restarts from its ``auto.offset.reset`` (the log start with
  ``earliest``, the high watermark with ``latest``).
- ``strip``: both drawn on one chart, offsets to scale, one row per partition.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import pandas as pd

from dashboard.charts import PALETTE

MAX_CELLS = 60  # up to this many offsets the strip draws one numbered cell per offset
ROW_HEIGHT = 80
DELETED = "deleted by retention"
STORED = "stored"
LOG_START = "log start"
HIGH_WATERMARK = "high watermark"
KIND_COLOURS = {DELETED: "#e8e8e8", STORED: PALETTE[0]}
LOG_END = "log end offset"
COMMITTED = "committed"
LOST = "committed, below log start"
MARK_COLOURS = {
    LOG_START: "#555555",
    HIGH_WATERMARK: PALETTE[1],
    LOG_END: PALETTE[6],
    COMMITTED: PALETTE[4],
    LOST: PALETTE[2],
}
# Where each marker's label sits, in pixels from its row's middle: the offsets that bound the
# log just above the strip, the groups above them, the log end offsets below.
LABEL_DY = {LOG_START: -16, HIGH_WATERMARK: -16, COMMITTED: -30, LOST: -30, LOG_END: 20}


def log_ends(text: object) -> list[tuple[int, int]]:
    """(replica, log end offset) pairs of the store's "replica:offset,..." (none: empty)."""
    if not isinstance(text, str) or not text:
        return []
    return [(int(r), int(end)) for r, end in (pair.split(":") for pair in text.split(","))]


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[arg-type]


def extent(partitions: pd.DataFrame) -> int:
    """The highest offset the strip must reach: the largest high watermark or log end offset
    (a leader's is past the high watermark until its followers copy it), at least 1."""
    highs = [int(high) for high in partitions["high_watermark"].dropna()]
    column = partitions.get("log_end_offsets", pd.Series(dtype=object))
    ends = [end for text in column for _, end in log_ends(text)]
    return max([1, *highs, *ends])


def as_cells(partitions: pd.DataFrame) -> bool:
    """Whether the strip draws one cell per offset (else ranges to scale)."""
    return extent(partitions) <= MAX_CELLS


def ranges(partitions: pd.DataFrame) -> pd.DataFrame:
    """partition, start, end, kind (``DELETED`` / ``STORED``), records, label: the spans
    drawn; one per offset (label: the offset) when ``as_cells``."""
    cells = as_cells(partitions)
    rows = []
    for part in partitions.itertuples():
        start, high = _int(part.log_start), _int(part.high_watermark)
        if start is None or high is None:
            continue
        spans = [(0, start, DELETED), (start, high, STORED)]
        for begin, end, kind in spans:
            if end <= begin:
                continue
            if cells:
                rows += [(part.partition, o, o + 1, kind, 1, str(o)) for o in range(begin, end)]
            else:
                rows.append((part.partition, begin, end, kind, end - begin, ""))
    return pd.DataFrame(rows, columns=["partition", "start", "end", "kind", "records", "label"])


def marks(partitions: pd.DataFrame, committed: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """partition, offset, mark, group, label: the markers drawn (``mark`` ``LOST`` for a
    committed offset below the log start). ``committed``
    holds per group a frame of partition, committed (NaN: no commit)."""
    rows = []
    starts = {}
    for part in partitions.itertuples():
        start, high = _int(part.log_start), _int(part.high_watermark)
        starts[part.partition] = start
        if start is not None:
            rows.append((part.partition, start, LOG_START, "", f"log start {start}"))
        if high is not None:
            rows.append((part.partition, high, HIGH_WATERMARK, "", f"HW {high}"))
        at: dict[int, list[int]] = {}
        for replica, end in log_ends(getattr(part, "log_end_offsets", None)):
            at.setdefault(end, []).append(replica)
        for end, replicas in sorted(at.items()):
            which = ",".join(str(r) for r in sorted(replicas))
            noun = "replica" if len(replicas) == 1 else "replicas"
            rows.append((part.partition, end, LOG_END, "", f"LEO {end}: {noun} {which}"))
    for group, offsets in committed.items():
        for row in offsets.itertuples():
            offset, start = _int(row.committed), starts.get(row.partition)
            if offset is None or row.partition not in starts:
                continue
            if start is not None and offset < start:
                rows.append((row.partition, offset, LOST, group, f"{group} {offset}: lost"))
            else:
                rows.append((row.partition, offset, COMMITTED, group, f"{group} {offset}"))
    frame = pd.DataFrame(rows, columns=["partition", "offset", "mark", "group", "label"])
    return frame.astype({"partition": int, "offset": int})


def strip(partitions: pd.DataFrame, committed: Mapping[str, pd.DataFrame]) -> alt.LayerChart:
    """The topic's partitions as strips: deleted and stored offsets (cells or ranges), the
    markers above them, offsets on a shared x axis to scale."""
    spans = ranges(partitions)
    markers = marks(partitions, committed)
    top = extent(partitions)
    x_scale = alt.Scale(domain=[0, top + max(1, top // 50)], nice=False)
    y = alt.Y("partition:O", title="partition", sort="ascending")
    kinds = alt.Scale(domain=list(KIND_COLOURS), range=list(KIND_COLOURS.values()))
    cells = (
        alt.Chart(spans)
        .mark_rect(stroke="white", strokeWidth=1 if as_cells(partitions) else 0, height=24)
        .encode(
            x=alt.X("start:Q", scale=x_scale, title="offset"),
            x2=alt.X2("end"),
            y=y,
            color=alt.Color(
                "kind:N", scale=kinds, legend=alt.Legend(title="offsets", orient="top")
            ),
            tooltip=_tooltips("partition:O", "kind:N", "start:Q", "end:Q", "records:Q"),
        )
    )
    numbers = (
        alt.Chart(spans[spans["label"] != ""].assign(middle=lambda f: f["start"] + 0.5))
        .mark_text(fontSize=9, color="black")
        .encode(x=alt.X("middle:Q", scale=x_scale), y=y, text=alt.Text("label:N"))
    )
    colours = alt.Scale(domain=list(MARK_COLOURS), range=list(MARK_COLOURS.values()))
    placed = alt.Chart(markers).encode(x=alt.X("offset:Q", scale=x_scale), y=y)
    ticks = placed.mark_tick(thickness=3, size=34).encode(
        color=alt.Color(
            "mark:N", scale=colours, legend=alt.Legend(title="marker", orient="bottom")
        ),
        tooltip=_tooltips("partition:O", "mark:N", "offset:Q", "label:N"),
    )
    labels = [
        placed.transform_filter(alt.FieldOneOfPredicate(field="mark", oneOf=kinds_at))
        .mark_text(align="left", dx=3, dy=dy, fontSize=10)
        .encode(text=alt.Text("label:N"), color=alt.Color("mark:N", scale=colours, legend=None))
        for dy, kinds_at in _by_level().items()
    ]
    return (
        alt.layer(cells, numbers, ticks, *labels)
        .resolve_scale(color="independent")  # offsets' kinds and markers: two legends
        .properties(height=alt.Step(ROW_HEIGHT))
    )


def _tooltips(*fields: str) -> list[alt.Tooltip]:
    return [alt.Tooltip(field) for field in fields]


def _by_level() -> dict[int, list[str]]:
    """The marker kinds whose labels sit at each height (``LABEL_DY``)."""
    levels: dict[int, list[str]] = {}
    for kind, dy in LABEL_DY.items():
        levels.setdefault(dy, []).append(kind)
    return levels


def caption(partitions: pd.DataFrame, markers: pd.DataFrame) -> str:
    """What the strip shows, in words: cells or ranges to scale, and any lost group."""
    if as_cells(partitions):
        text = "One cell per offset, numbered."
    else:
        text = (
            f"Up to {extent(partitions):,} offsets per partition: drawn as ranges to scale "
            "(grey: deleted by retention; blue: stored), not one cell per offset."
        )
    for row in markers[markers["mark"] == LOST].itertuples():
        text += (
            f" Group {row.group}'s committed offset {row.offset} on partition {row.partition} "
            "is below the log start: retention deleted it, so the group restarts from its "
            "auto.offset.reset."
        )
    return text
