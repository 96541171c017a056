"""Follow one tweet: where it went and when, from its record, the ``tweet-stats`` results that
counted it (``dashboard.trace_reader``) and the collector's samples of the cluster.

The hops, in order, each with the time it happened ("exact", from a record) or the time the
first collector sample that showed it had read its figures ("seen by": the hop happened
before, and after the sample before it):

1. produced: the tweet's record timestamp, when the topic stamps the producer's time
   (CreateTime, Kafka's default: ingest's producer sets it);
2. appended to the leader's log: the record timestamp under LogAppendTime, else the first
   sample where the leader's log end offset or the high watermark passed the tweet's offset
   (the collector reads the high watermark last, so it may show it first);
3. committed: the first sample where the high watermark passed it (every replica in the ISR
   holds it: it survives the loss of any of them);
4. read by a member of ``analytics``: the ``read.ms`` header of the first result that covered
   it (the time the worker read that result's last record: the tweet's own read time when the
   result ends at it, else a bound). The member is the one its ``member.id`` header names
   or, for a result without it, the one the samples show owning the partition when the
   result was produced; its client id is the one the samples show for that member;
5. result produced: that result's record timestamp;
6. offset committed: the first sample where the group's committed offset passed it (a worker
   commits a run's start, so this waits for the run to close).

``replicas``: each replica of the partition and since when it holds the tweet: the first
sample with its log end offset past the tweet's offset, or, if earlier, the one where the
high watermark passed it with the replica in the ISR (the high watermark is the ISR's lowest
log end offset; the only way to tell where log end offsets are not probed). ``timeline``
draws the hops with Altair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

from chirpstream.settings import ANALYTICS_GROUP, TWEETS_TOPIC
from dashboard.charts import PALETTE
from dashboard.log_strip import log_ends
from dashboard.trace_reader import Results, TweetRecord

EXACT = "exact"
SEEN_BY = "seen by"
KNOWN = [EXACT, SEEN_BY]
BEFORE_MS = 5000  # samples read from this long before the tweet's timestamp
PRODUCED = "produced"
APPENDED = "appended to the leader's log"
COMMITTED = "committed (high watermark passed it)"
READ = "read by a worker"
RESULT = "result produced"
OFFSET_COMMITTED = "offset committed"
HOPS = (PRODUCED, APPENDED, COMMITTED, READ, RESULT, OFFSET_COMMITTED)


@dataclass(frozen=True)
class Hop:
    hop: str  # one of HOPS
    at_ms: int | None  # None: not happened yet, or not known
    known: str  # EXACT or SEEN_BY
    how: str


@dataclass(frozen=True)
class Trace:
    tweet: TweetRecord
    hops: list[Hop]
    replicas: pd.DataFrame  # replica, holds_since_ms (NaN: not yet seen), in_isr (now)
    results: Results | None  # None: tweet-stats could not be read
    member_id: str | None
    client_id: str | None

    def hop(self, name: str) -> Hop:
        return next(h for h in self.hops if h.hop == name)

    def table(self) -> pd.DataFrame:
        """hop, at_ms, after_ms (after the produce time, or the first time known), known,
        how: the hops as a table, in order."""
        times = [h.at_ms for h in self.hops if h.at_ms is not None]
        zero = times[0] if times else None
        return pd.DataFrame(
            [
                (
                    h.hop,
                    h.at_ms,
                    None if h.at_ms is None or zero is None else h.at_ms - zero,
                    h.known,
                    h.how,
                )
                for h in self.hops
            ],
            columns=["hop", "at_ms", "after_ms", "known", "how"],
        )


def _first(frame: pd.DataFrame, passed: list[bool]) -> int | None:
    """The seen_ms of the first row of ``frame`` where ``passed``; None if there is none."""
    chosen = frame.loc[pd.Series(passed, index=frame.index, dtype=bool), "seen_ms"]
    return int(chosen.iloc[0]) if len(chosen) else None


def _earliest(*times: int | None) -> int | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _ends(text: Any) -> dict[int, int]:
    return dict(log_ends(text))


def _ids(text: Any) -> list[int]:
    return [int(n) for n in text.split(",")] if isinstance(text, str) and text else []


def follow(
    store: Any, tweet: TweetRecord, results: Results | None, group: str = ANALYTICS_GROUP
) -> Trace:
    """The trace of ``tweet`` from ``store``'s samples (a ``Store`` or the pages' cached
    ``ui.Data``) and the ``results`` found for it (None: ``tweet-stats`` was not read)."""
    p, offset = tweet.partition, tweet.offset
    since = tweet.timestamp_ms - BEFORE_MS
    samples = store.partition_samples(TWEETS_TOPIC, p, since)
    hw = samples["high_watermark"]
    committed_at = _first(samples, (hw.notna() & (hw > offset)).tolist())
    ends = [_ends(text) for text in samples["log_ends"]]
    leaders = [None if pd.isna(leader) else int(leader) for leader in samples["leader"]]
    on_leader = [e.get(leader, -1) > offset for e, leader in zip(ends, leaders, strict=True)]
    hops = [
        _produced(tweet),
        _appended(tweet, _earliest(_first(samples, on_leader), committed_at)),
        Hop(COMMITTED, committed_at, SEEN_BY, f"first sample with the high watermark > {offset}"),
    ]
    first = results.first if results is not None else None
    members = store.member_history(group, since)
    member_id = first.member_id if first is not None else None
    if first is not None and member_id is None:  # a worker without the header: the owner
        member_id = _owner(members, p, first.produced_ms)
    hops += _worker_hops(tweet, results)
    commits = store.commit_samples(group, TWEETS_TOPIC, p, since)
    done = commits["committed"]
    hops.append(
        Hop(
            OFFSET_COMMITTED,
            _first(commits, (done.notna() & (done > offset)).tolist()),
            SEEN_BY,
            f"first sample with {group}'s committed offset > {offset}",
        )
    )
    replicas = _replicas(samples, ends, offset, committed_at)
    return Trace(tweet, hops, replicas, results, member_id, _client(members, member_id))


def _replicas(
    samples: pd.DataFrame, ends: list[dict[int, int]], offset: int, committed_at: int | None
) -> pd.DataFrame:
    """replica, holds_since_ms (None: not seen holding it), in_isr (in the newest sample)."""
    newest = samples.iloc[-1] if len(samples) else None
    replicas = _ids(newest["replicas"]) if newest is not None else []
    isr_now = set(_ids(newest["isr"])) if newest is not None else set()
    # Every replica in the ISR when the high watermark passed it held it: the high watermark
    # is the lowest log end offset of the ISR.
    at = samples.loc[samples["seen_ms"] == committed_at, "isr"]
    isr_then = _ids(at.iloc[0]) if len(at) else []
    holds = {
        r: _earliest(
            _first(samples, [e.get(r, -1) > offset for e in ends]),
            committed_at if r in isr_then else None,
        )
        for r in replicas
    }
    return pd.DataFrame(
        {
            "replica": replicas,
            "holds_since_ms": [holds[r] for r in replicas],
            "in_isr": [r in isr_now for r in replicas],
        }
    )


def _worker_hops(tweet: TweetRecord, results: Results | None) -> list[Hop]:
    """Read by a worker, result produced: from the first result that covered the tweet."""
    first = results.first if results is not None else None
    if first is None:
        why = "no result covers it yet" if results is not None else "tweet-stats not read"
        return [Hop(READ, None, EXACT, why), Hop(RESULT, None, EXACT, why)]
    named = f"result {first.stats_offset}"
    if first.read_ms is None:
        read = Hop(READ, None, EXACT, f"{named} has no read.ms header")
    elif first.last_offset == tweet.offset:
        read = Hop(READ, first.read_ms, EXACT, f"read.ms of {named}, which ends at this tweet")
    else:
        read = Hop(
            READ,
            first.read_ms,
            SEEN_BY,
            f"read.ms of {named}: when its last record, offset {first.last_offset}, was read",
        )
    return [read, Hop(RESULT, first.produced_ms, EXACT, f"timestamp of {named}")]


def _produced(tweet: TweetRecord) -> Hop:
    if tweet.log_append_time:
        return Hop(PRODUCED, None, EXACT, "not recorded: the topic stamps LogAppendTime")
    return Hop(PRODUCED, tweet.timestamp_ms, EXACT, "record timestamp (CreateTime, the producer's)")


def _appended(tweet: TweetRecord, leader_at: int | None) -> Hop:
    if tweet.log_append_time:
        return Hop(APPENDED, tweet.timestamp_ms, EXACT, "record timestamp (LogAppendTime)")
    return Hop(
        APPENDED,
        leader_at,
        SEEN_BY,
        f"first sample with the leader's log end or the high watermark > {tweet.offset}",
    )


def _client(members: pd.DataFrame, member_id: str | None) -> str | None:
    """The client id the samples show for ``member_id``."""
    if member_id is None:
        return None
    found = members.loc[members["member_id"] == member_id, "client_id"]
    return str(found.iloc[-1]) if len(found) else None


def _owner(members: pd.DataFrame, partition: int, at_ms: int) -> str | None:
    """The member owning ``partition`` in the newest sample up to ``at_ms`` (else in the first
    sample after it) that names an owner."""
    wanted = f"{TWEETS_TOPIC}:{partition}"
    owning = members[[wanted in str(a).split(",") for a in members["assignment"]]]
    before = owning[owning["ts_ms"] <= at_ms]
    chosen = before.iloc[-1:] if len(before) else owning.iloc[:1]
    return str(chosen["member_id"].iloc[0]) if len(chosen) else None


def timeline(trace: Trace) -> alt.LayerChart:
    """The hops on one axis of milliseconds after the first one: a line from 0 and a point
    per hop that happened (a circle: exact; a square: seen by a sample), with its time."""
    table = trace.table().dropna(subset=["after_ms"])
    table["label"] = [f"+{int(ms):,} ms" for ms in table["after_ms"]]
    table["start"] = 0  # the rules start at 0 (a datum x does not render in Streamlit)
    x_title = "ms after it was produced"
    y = alt.Y("hop:N", sort=list(HOPS), title=None, axis=alt.Axis(labelLimit=260))
    base = alt.Chart(table).encode(y=y)
    rules = base.mark_rule(color=PALETTE[9]).encode(
        x=alt.X("start:Q", title=x_title), x2="after_ms:Q"
    )
    placed = base.encode(x=alt.X("after_ms:Q", title=x_title))
    points = placed.mark_point(size=120, filled=True).encode(
        shape=alt.Shape("known:N", scale=alt.Scale(domain=KNOWN, range=["circle", "square"])),
        color=alt.Color("known:N", scale=alt.Scale(domain=KNOWN, range=[PALETTE[0], PALETTE[1]])),
        tooltip=["hop:N", "after_ms:Q", "known:N", "how:N"],
    )
    labels = placed.mark_text(align="left", dx=8).encode(text="label:N")
    return alt.layer(rules, points, labels).properties(height=alt.Step(36))
