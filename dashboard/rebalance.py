"""Rebalances on a stage: who owned which partition of a group's topic over time, and for how
long each partition had no owner while the group rebalanced.

Two sources give the same picture (``Span`` rows: partition, owner, start, end):

- the collector's samples (``ownership_from_samples``): every second, DescribeGroups' members
  and their assignments, and the group's state and generation (from ``__consumer_offsets``).
  Resolution: one sample (the collector's beat, 1 s). A classic group shows no assignment
  while it rebalances (Kafka's DescribeGroups answers members without metadata unless the
  group is Stable), so what a partition had then follows from the protocol: an *eager*
  assignor (``range``, ``roundrobin``) makes every member give up every partition when it
  rejoins, so the partition had no owner; under ``cooperative-sticky`` (KIP-429) a member
  keeps what it owns through the rebalance (while it is still a member) and gives up only
  what the new assignment takes from it, which the group then shows Stable with that partition
  unassigned until the second rebalance hands it on. Works on any Kafka cluster.
- the members' own rebalance callbacks (``ownership_from_callbacks``), when the page runs the
  members (the scene, ``dashboard.rebalance_scene``): each assign and revoke with its time,
  to the millisecond, with nothing inferred.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

NO_OWNER = ""  # the owner of a partition nobody held
COOPERATIVE = "cooperative-sticky"
SPAN_COLUMNS = ["partition", "owner", "start_ms", "end_ms"]
NO_OWNER_COLOUR = "#e45756"
OWNER_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#9d755d", "#eeca3b")


@dataclass(frozen=True)
class Callback:
    """One member's rebalance callback: ``assigned`` or ``revoked`` (or ``lost``) partitions
    at ``ts_ms``."""

    ts_ms: int
    member: str
    kind: str
    partitions: tuple[int, ...]


def is_cooperative(assignors: Iterable[str | None]) -> bool:
    """Whether the group's protocol is cooperative, from the assignor it used last (a
    rebalancing group names none)."""
    named = [a for a in assignors if isinstance(a, str) and a]
    return bool(named) and named[-1] == COOPERATIVE


def ownership_from_samples(
    history: pd.DataFrame, members: pd.DataFrame, topic: str, partitions: Sequence[int]
) -> pd.DataFrame:
    """Per sample and partition, its owner (a member's client id, ``NO_OWNER`` for none).

    ``history``: ts_ms, state, assignor, generation of the group, one row per sample;
    ``members``: ts_ms, client_id, assignment (``topic:p,...``), one row per member and sample.
    """
    columns = ["ts_ms", "partition", "owner", "generation"]
    if history.empty or not len(partitions):
        return pd.DataFrame(columns=columns)
    times = history["ts_ms"].to_numpy(dtype="int64")
    column = {p: i for i, p in enumerate(partitions)}
    owners = np.full((len(times), len(column)), None, dtype=object)
    # Thousands of samples repeat a handful of assignments: each distinct one is parsed once.
    codes, assignments = pd.factorize(members["assignment"].fillna(""))
    sampled = members["ts_ms"].to_numpy(dtype="int64")
    rows = np.minimum(np.searchsorted(times, sampled), len(times) - 1)
    known = times[rows] == sampled  # a member row of a sample the history holds
    clients = members["client_id"].to_numpy(dtype=object)
    for code, assignment in enumerate(assignments):
        held = [
            column[int(number)]
            for name, _, number in (tp.rpartition(":") for tp in assignment.split(","))
            if name == topic and number.isdigit() and int(number) in column
        ]
        chosen = np.flatnonzero((codes == code) & known)
        if held and len(chosen):
            owners[rows[chosen][:, None], held] = clients[chosen][:, None]
    rebalancing = history["state"].fillna("").str.upper().str.contains("REBALANC").to_numpy()
    grid = pd.DataFrame(owners)
    if is_cooperative(history["assignor"]):
        # Owners keep their partitions through the rebalance: carried forward from the last
        # sample that showed them; an unassigned partition in a Stable sample stops that.
        grid.loc[~rebalancing] = grid.loc[~rebalancing].fillna(NO_OWNER)
        grid = grid.ffill()
        # ... as long as they are members: one that left gave up everything it owned.
        during = members[members["ts_ms"].isin(times[rebalancing])]
        present = during.groupby("ts_ms")["client_id"].agg(set)
        for row in np.flatnonzero(rebalancing):
            here = present.get(times[row])
            if here:  # a rebalancing group has members; none listed is a sample without them
                grid.iloc[row] = [o if o in here else NO_OWNER for o in grid.iloc[row]]
    owners = grid.fillna(NO_OWNER).to_numpy(dtype=object)
    width = len(column)
    return pd.DataFrame(
        {
            "ts_ms": np.repeat(times, width),
            "partition": np.tile(np.asarray(list(partitions), dtype="int64"), len(times)),
            "owner": owners.ravel(),
            "generation": np.repeat(history["generation"].to_numpy(), width),
        }
    )


def spans(ownership: pd.DataFrame, until_ms: int | None = None) -> pd.DataFrame:
    """Consecutive samples with the same owner of a partition as one span; each ends where
    the next begins (the last at ``until_ms``, else at its last sample)."""
    if ownership.empty:
        return pd.DataFrame(columns=SPAN_COLUMNS)
    ordered = ownership.sort_values(["partition", "ts_ms"], kind="stable")
    partition = ordered["partition"].to_numpy()
    owner = ordered["owner"].to_numpy(dtype=object)
    times = ordered["ts_ms"].to_numpy(dtype="int64")
    begins = np.flatnonzero(
        np.r_[True, (partition[1:] != partition[:-1]) | (owner[1:] != owner[:-1])]
    )
    following = np.r_[begins[1:], len(times)]
    continues = np.r_[partition[begins[1:]] == partition[begins[:-1]], False]
    last = times[following - 1] if until_ms is None else np.full(len(begins), until_ms)
    ends = np.where(continues, times[np.minimum(following, len(times) - 1)], last)
    return pd.DataFrame(
        {
            "partition": partition[begins],
            "owner": owner[begins],
            "start_ms": times[begins],
            "end_ms": ends.astype("int64"),
        }
    )


def ownership_from_callbacks(
    callbacks: Iterable[Callback], partitions: Sequence[int], end_ms: int
) -> pd.DataFrame:
    """Spans from the members' callbacks up to ``end_ms``: a partition is a member's from its
    assign to its revoke (or loss); between owners, and before the first, it has
    ``NO_OWNER``."""
    rows: list[tuple[int, str, int, int]] = []
    holder: dict[int, tuple[str, int]] = {}  # partition: (owner, since)
    free_since: dict[int, int] = {}
    ordered = sorted((c for c in callbacks if c.ts_ms <= end_ms), key=lambda c: c.ts_ms)
    start = ordered[0].ts_ms if ordered else end_ms
    for partition in partitions:
        free_since[partition] = start
    for callback in ordered:
        for partition in callback.partitions:
            if callback.kind == "assigned":
                if partition in free_since:
                    since = free_since.pop(partition)
                    rows.append((partition, NO_OWNER, since, callback.ts_ms))
                elif partition in holder:  # assigned while another held it: close that
                    owner, since = holder[partition]
                    rows.append((partition, owner, since, callback.ts_ms))
                holder[partition] = (callback.member, callback.ts_ms)
            elif holder.get(partition, ("",))[0] == callback.member:
                owner, since = holder.pop(partition)
                rows.append((partition, owner, since, callback.ts_ms))
                free_since[partition] = callback.ts_ms
    for partition, (owner, since) in holder.items():
        rows.append((partition, owner, since, end_ms))
    for partition, since in free_since.items():
        rows.append((partition, NO_OWNER, since, end_ms))
    frame = pd.DataFrame([r for r in rows if r[2] < r[3]], columns=SPAN_COLUMNS)  # not empty
    return frame.sort_values(["partition", "start_ms"]).reset_index(drop=True)


def unowned(span_rows: pd.DataFrame) -> pd.DataFrame:
    """The stretches in which a partition that had an owner had none: partition, start_ms,
    end_ms, unowned_ms, ended (False: still without an owner at the end of the window)."""
    columns = ["partition", "start_ms", "end_ms", "unowned_ms", "ended"]
    if span_rows.empty:
        return pd.DataFrame(columns=columns)
    ordered = span_rows.sort_values(["partition", "start_ms"]).reset_index(drop=True)
    had_owner = ordered.groupby("partition")["owner"].transform(
        lambda owners: (owners != NO_OWNER).cummax().shift(fill_value=False)
    )
    gaps = ordered[(ordered["owner"] == NO_OWNER) & had_owner].copy()
    following = ordered.groupby("partition")["start_ms"].shift(-1)
    gaps["ended"] = following.loc[gaps.index].notna()
    gaps["unowned_ms"] = gaps["end_ms"] - gaps["start_ms"]
    return gaps[columns].reset_index(drop=True)


def generations(history: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """One row per generation seen Stable: generation, from_ms, to_ms, members (count) and
    who they were."""
    columns = ["generation", "from_ms", "to_ms", "members", "who"]
    stable = history[history["state"].fillna("").str.upper() == "STABLE"].dropna(
        subset=["generation"]
    )
    if stable.empty:
        return pd.DataFrame(columns=columns)
    by_generation = stable.groupby("generation")["ts_ms"].agg(["min", "max"])
    who = members.merge(stable[["ts_ms", "generation"]], on="ts_ms").groupby("generation")[
        "client_id"
    ]
    table = pd.DataFrame(
        {
            "generation": by_generation.index.astype("int64"),
            "from_ms": by_generation["min"].to_numpy(),
            "to_ms": by_generation["max"].to_numpy(),
        }
    )
    names = who.agg(lambda ids: ", ".join(sorted(set(ids))))
    counts = who.nunique()
    table["members"] = table["generation"].map(counts).fillna(0).astype("int64")
    table["who"] = table["generation"].map(names).fillna("")
    return table[columns].sort_values("generation").reset_index(drop=True)


def timeline(span_rows: pd.DataFrame, title: str) -> alt.Chart:
    """Partitions down, time across; each bar a stretch with one owner, red with none."""
    frame = span_rows.assign(
        start=pd.to_datetime(span_rows["start_ms"], unit="ms"),
        end=pd.to_datetime(span_rows["end_ms"], unit="ms"),
        owner=span_rows["owner"].replace(NO_OWNER, "no owner"),
        seconds=(span_rows["end_ms"] - span_rows["start_ms"]) / 1000,
    )
    owners = sorted(o for o in frame["owner"].unique() if o != "no owner")
    colours = [OWNER_COLOURS[i % len(OWNER_COLOURS)] for i in range(len(owners))]
    scale = alt.Scale(domain=["no owner", *owners], range=[NO_OWNER_COLOUR, *colours])
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("start:T", title="time"),
            x2="end:T",
            y=alt.Y("partition:O", title="partition"),
            color=alt.Color("owner:N", scale=scale, title="owner"),
            tooltip=["partition", "owner", alt.Tooltip("seconds:Q", format=".3f")],
        )
    )
