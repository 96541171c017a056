"""The dashboard store: a bounded history of cluster samples and analytics in SQLite.

One writer (the collector) and any number of readers (Streamlit reruns, browser tabs, other
processes). The database runs in WAL mode, so readers never block the writer nor each other;
every write is one short transaction. A ``Store`` may be shared between threads (its
connection is guarded by a lock); each process should open its own.

Times are epoch milliseconds. Cluster tables are keyed by ``ts_ms``, the wall-clock time of
the sample they belong to; "latest" means the newest sample that succeeded. The collector
stores a sample's view of the cluster itself (brokers, partitions, quorum, events:
``write_view``) as soon as it has it, before the groups, which can wait on a coordinator
that just died; the Cluster page reads that newest view (``cluster_*``, ``quorum*``), the
other pages the newest complete sample.

Tables
------
``samples``        ts_ms PK, took_ms (wall time the sample took): one row per good sample.
``status``         id=1 (one row), ok (1/0), message, ts_ms (when recorded), last_ok_ms.
``brokers``        ts_ms, node_id, host, port, up (0: seen earlier, absent from metadata now),
                   state (``BROKER_STATES``; NULL when not probed), controller (1: the active
                   controller).
``partitions``     ts_ms, topic, partition, leader, replicas, isr (comma-separated node ids),
                   log_start, high_watermark (NULL when the offsets could not be read),
                   leader_epoch (NULL when not probed), offline (comma-separated node ids),
                   log_ends (each replica's log end offset, "replica:offset,...", of the
                   replicas that answered; NULL when not probed).
``quorum``         ts_ms PK, leader_id, leader_epoch, high_watermark: the controller quorum
                   (DescribeQuorum), when a controller could be asked.
``quorum_replicas`` ts_ms, replica_id, role (leader / voter / observer), log_end_offset, lag
                   (the leader's log end offset minus this one's), last_fetch_ms,
                   last_caught_up_ms (NULL: unknown).
``events``         ts_ms, kind (``EVENT_KINDS``), topic, partition, node_id, text: what changed
                   between two samples (``dashboard.cluster_events``).
``groups``         ts_ms, group_id, state, protocol_type ("consumer", "" when simple),
                   assignor (the partition assignor, "" when none), members (count),
                   generation (from ``__consumer_offsets``; NULL until seen there).
``members``        ts_ms, group_id, member_id, client_id, host, assignment ("topic:p,..").
``group_offsets``  ts_ms, group_id, topic, partition, committed (NULL: no commit), lag
                   (high_watermark - committed; with no commit high_watermark - log_start;
                   NULL when the partition's offsets are unknown).
``windows``        window_ms PK (start of a second of tweet time), tweets, malformed, retweets,
                   replies, sentiment_sum, positive, neutral, negative (label counts),
                   languages (JSON object), hashtags (JSON [[tag, n], ...], top 10).
``totals``         id=1 (one row), ts_ms, tweets, malformed, retweets, replies, sentiment_sum,
                   labels, languages (JSON objects), top_hashtags (JSON [[tag, n]]),
                   top_authors (JSON [[author_id, username, n]]), applied, superseded,
                   duplicates, invalid, overlaps (the folder's counters).
``tail``           partition, offset (PK), ts_ms (record timestamp), key, username, lang, text:
                   the newest ``TAIL_KEEP`` records of ``tweets``.
``results``        ts_ms PK (a second of production time: when workers produced the results),
                   tweets, sentiment_sum: what was analysed in that second.
``repeats``        ts_ms (record timestamp), partition, first_offset, last_offset, tweets: each
                   result of ``tweet-stats`` the fold dropped as a repeat of one it holds (a
                   range read again after a crash before commit).
``topic_configs``  topic, name, value (PK topic, name): the latest settings read of each topic.
``checkpoint``     id=1 (one row), ts_ms, state (the stats reader's pickled progress).

``prune(keep_seconds)`` drops cluster history older than ``keep_seconds`` before now, and
analytics windows older than ``keep_seconds`` before the newest window (tweet time may be
far from wall time when a recording is replayed).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard.rows import (
    EVENT_KINDS,
    ClusterSample,
    EventRow,
    PartitionRow,
    ResultSecond,
    TailRow,
    WindowRow,
)

KEEP_SECONDS = 2 * 3600
TAIL_KEEP = 200
LABEL_COLUMNS = ("positive", "neutral", "negative")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (ts_ms INTEGER PRIMARY KEY, took_ms REAL);
CREATE TABLE IF NOT EXISTS status (
    id INTEGER PRIMARY KEY CHECK (id = 1), ok INTEGER, message TEXT, ts_ms INTEGER,
    last_ok_ms INTEGER);
CREATE TABLE IF NOT EXISTS brokers (
    ts_ms INTEGER, node_id INTEGER, host TEXT, port INTEGER, up INTEGER,
    PRIMARY KEY (ts_ms, node_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partitions (
    ts_ms INTEGER, topic TEXT, partition INTEGER, leader INTEGER, replicas TEXT, isr TEXT,
    log_start INTEGER, high_watermark INTEGER,
    PRIMARY KEY (topic, partition, ts_ms)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS partitions_ts ON partitions (ts_ms);
CREATE TABLE IF NOT EXISTS groups (
    ts_ms INTEGER, group_id TEXT, state TEXT, protocol_type TEXT, assignor TEXT,
    members INTEGER, generation INTEGER, PRIMARY KEY (ts_ms, group_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    ts_ms INTEGER, group_id TEXT, member_id TEXT, client_id TEXT, host TEXT, assignment TEXT,
    PRIMARY KEY (ts_ms, group_id, member_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
    ts_ms INTEGER, group_id TEXT, topic TEXT, partition INTEGER, committed INTEGER,
    lag INTEGER, PRIMARY KEY (group_id, topic, partition, ts_ms)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_offsets_ts ON group_offsets (ts_ms);
CREATE TABLE IF NOT EXISTS windows (
    window_ms INTEGER PRIMARY KEY, tweets INTEGER, malformed INTEGER, retweets INTEGER,
    replies INTEGER, sentiment_sum REAL, positive INTEGER, neutral INTEGER, negative INTEGER,
    languages TEXT, hashtags TEXT);
CREATE TABLE IF NOT EXISTS totals (
    id INTEGER PRIMARY KEY CHECK (id = 1), ts_ms INTEGER, tweets INTEGER, malformed INTEGER,
    retweets INTEGER, replies INTEGER, sentiment_sum REAL, labels TEXT, languages TEXT,
    top_hashtags TEXT, top_authors TEXT, applied INTEGER, superseded INTEGER,
    duplicates INTEGER, invalid INTEGER, overlaps INTEGER);
CREATE TABLE IF NOT EXISTS results (ts_ms INTEGER PRIMARY KEY, tweets INTEGER, sentiment_sum REAL);
CREATE TABLE IF NOT EXISTS repeats (
    ts_ms INTEGER, partition INTEGER, first_offset INTEGER, last_offset INTEGER, tweets INTEGER);
CREATE TABLE IF NOT EXISTS topic_configs (
    topic TEXT, name TEXT, value TEXT, PRIMARY KEY (topic, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1), ts_ms INTEGER, state BLOB);
CREATE TABLE IF NOT EXISTS quorum (
    ts_ms INTEGER PRIMARY KEY, leader_id INTEGER, leader_epoch INTEGER, high_watermark INTEGER);
CREATE TABLE IF NOT EXISTS quorum_replicas (
    ts_ms INTEGER, replica_id INTEGER, role TEXT, log_end_offset INTEGER, lag INTEGER,
    last_fetch_ms INTEGER, last_caught_up_ms INTEGER,
    PRIMARY KEY (ts_ms, replica_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    ts_ms INTEGER, kind TEXT, topic TEXT, partition INTEGER, node_id INTEGER, text TEXT);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts_ms);
CREATE TABLE IF NOT EXISTS tail (
    partition INTEGER, offset INTEGER, ts_ms INTEGER, key TEXT, username TEXT, lang TEXT,
    text TEXT, PRIMARY KEY (partition, offset)) WITHOUT ROWID;
"""
# Columns added since the first release: a store written by an older dashboard gains them.
_ADDED_COLUMNS = (
    ("brokers", "state", "TEXT"),
    ("brokers", "controller", "INTEGER"),
    ("partitions", "leader_epoch", "INTEGER"),
    ("partitions", "offline", "TEXT"),
    ("partitions", "log_ends", "TEXT"),
)
_HISTORY = (
    *("samples", "brokers", "partitions", "groups", "members", "group_offsets", "results"),
    "repeats",
    *("quorum", "quorum_replicas", "events"),
)
# running: answers and is not fenced; fenced: answers, but the controller fenced it (it lost
# its lease, or is shutting down); paused: accepts connections but does not answer (hung, or
# stopped with SIGSTOP); stopped: refuses connections.
_NEWEST_VIEW = "(SELECT MAX(ts_ms) FROM brokers)"  # every view names its brokers
BROKER_STATES = ("running", "fenced", "paused", "stopped")


def _ids(nodes: Iterable[int]) -> str:
    return ",".join(str(n) for n in nodes)


def _id_list(text: str | None) -> list[int]:
    return [int(n) for n in text.split(",")] if text else []


def _events_statement(events: Iterable[EventRow]) -> tuple[str, list[tuple[Any, ...]]]:
    return (
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
        [(e.ts_ms, e.kind, e.topic, e.partition, e.node_id, e.text) for e in events],
    )


def _lag(committed: int | None, part: PartitionRow | None) -> int | None:
    if part is None or part.high_watermark is None:
        return None
    if committed is None:
        return None if part.log_start is None else part.high_watermark - part.log_start
    return part.high_watermark - committed


class Store:
    """The dashboard's SQLite file: the collector writes, the app reads DataFrames."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, timeout=10.0, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        with self._lock:
            self._db.executescript(_SCHEMA)
            for table, column, kind in _ADDED_COLUMNS:
                names = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in names:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -------------------------------------------------------------------------

    def _write(self, statements: Iterable[tuple[str, Any]]) -> None:
        """Run (sql, rows) pairs in one transaction; rows is a list (executemany) or tuple."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    if isinstance(rows, list):
                        self._db.executemany(sql, rows)
                    else:
                        self._db.execute(sql, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def write_view(self, sample: ClusterSample) -> None:
        """Store ``sample``'s view of the cluster (brokers, partitions, quorum) and its events
        ahead of the rest; ``write_sample`` completes it (pass it the sample without events:
        they are stored here)."""
        self._write([*self._view_statements(sample), _events_statement(sample.events)])

    def write_sample(self, sample: ClusterSample) -> None:
        """Store one good sample (its view again, as it stands now, and its events) and mark
        the status ok."""
        ts = sample.ts_ms
        by_tp = {(p.topic, p.partition): p for p in sample.partitions}
        self._write(
            [
                ("INSERT OR REPLACE INTO samples VALUES (?, ?)", (ts, sample.took_ms)),
                *self._view_statements(sample),
                _events_statement(sample.events),
                (
                    "INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            ts,
                            g.group_id,
                            g.state,
                            g.protocol_type,
                            g.assignor,
                            g.members,
                            g.generation,
                        )
                        for g in sample.groups
                    ],
                ),
                (
                    "INSERT OR REPLACE INTO members VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            *(ts, m.group_id, m.member_id, m.client_id, m.host),
                            ",".join(f"{t}:{p}" for t, p in m.assignment),
                        )
                        for m in sample.members
                    ],
                ),
                (
                    "INSERT OR REPLACE INTO group_offsets VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            *(ts, c.group_id, c.topic, c.partition, c.committed),
                            _lag(c.committed, by_tp.get((c.topic, c.partition))),
                        )
                        for c in sample.commits
                    ],
                ),
                (
                    "INSERT INTO status VALUES (1, 1, 'ok', ?, ?) ON CONFLICT (id) DO UPDATE"
                    " SET ok = 1, message = 'ok', ts_ms = excluded.ts_ms,"
                    " last_ok_ms = excluded.last_ok_ms",
                    (ts, ts),
                ),
            ]
        )

    @staticmethod
    def _view_statements(sample: ClusterSample) -> list[tuple[str, Any]]:
        """Brokers, partitions and the quorum of ``sample`` (replacing what was stored)."""
        ts = sample.ts_ms
        statements: list[tuple[str, Any]] = [
            (
                "INSERT OR REPLACE INTO brokers"
                " (ts_ms, node_id, host, port, up, state, controller)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (ts, b.node_id, b.host, b.port, int(b.up), b.state, int(b.controller))
                    for b in sample.brokers
                ],
            ),
            (
                "INSERT OR REPLACE INTO partitions (ts_ms, topic, partition, leader,"
                " replicas, isr, log_start, high_watermark, leader_epoch, offline, log_ends)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *(ts, p.topic, p.partition, p.leader, _ids(p.replicas), _ids(p.isr)),
                        *(p.log_start, p.high_watermark, p.leader_epoch, _ids(p.offline)),
                        ",".join(f"{r}:{end}" for r, end in p.log_ends) or None,
                    )
                    for p in sample.partitions
                ],
            ),
        ]
        quorum = sample.quorum
        if quorum is None:
            return statements
        return [
            *statements,
            (
                "INSERT OR REPLACE INTO quorum VALUES (?, ?, ?, ?)",
                (ts, quorum.leader_id, quorum.leader_epoch, quorum.high_watermark),
            ),
            (
                "INSERT OR REPLACE INTO quorum_replicas VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (ts, r.replica_id, r.role, r.log_end_offset, r.lag, *r.times())
                    for r in quorum.replicas
                ],
            ),
        ]

    def write_error(self, message: str, ts_ms: int | None = None) -> None:
        """Record that the cluster could not be sampled (the app shows a banner)."""
        ts = _now_ms() if ts_ms is None else ts_ms
        self._write(
            [
                (
                    "INSERT INTO status VALUES (1, 0, ?, ?, NULL) ON CONFLICT (id) DO UPDATE"
                    " SET ok = 0, message = excluded.message, ts_ms = excluded.ts_ms",
                    (message, ts),
                )
            ]
        )

    def write_analytics(
        self,
        windows: Iterable[WindowRow],
        totals: Mapping[str, Any] | None,
        removed_windows: Iterable[int] = (),
        results: Iterable[ResultSecond] = (),
    ) -> None:
        """Upsert folded windows and seconds of results, delete windows that emptied, replace
        the totals row."""
        statements: list[tuple[str, Any]] = [
            (
                "INSERT OR REPLACE INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *(w.window_ms, w.tweets, w.malformed, w.retweets, w.replies),
                        w.sentiment_sum,
                        *(w.labels.get(label, 0) for label in LABEL_COLUMNS),
                        json.dumps(dict(w.languages)),
                        json.dumps([list(h) for h in w.hashtags]),
                    )
                    for w in windows
                ],
            ),
            ("DELETE FROM windows WHERE window_ms = ?", [(w,) for w in removed_windows]),
            (
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?)",
                [(r.ts_ms, r.tweets, r.sentiment_sum) for r in results],
            ),
        ]
        if totals is not None:
            t = totals
            statements.append(
                (
                    "INSERT OR REPLACE INTO totals VALUES"
                    " (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        t.get("ts_ms", _now_ms()),
                        t["tweets"],
                        t["malformed"],
                        t["retweets"],
                        t["replies"],
                        t["sentiment_sum"],
                        json.dumps(dict(t["labels"])),
                        json.dumps(dict(t["languages"])),
                        json.dumps([list(x) for x in t["top_hashtags"]]),
                        json.dumps([list(x) for x in t["top_authors"]]),
                        t.get("applied", 0),
                        t.get("superseded", 0),
                        t.get("duplicates", 0),
                        t.get("invalid", 0),
                        t.get("overlaps", 0),
                    ),
                )
            )
        self._write(statements)

    def write_repeats(self, repeats: Iterable[tuple[int, int, int, int, int]]) -> None:
        """Add results the fold dropped as repeats: (ts_ms, partition, first, last, tweets)."""
        self._write([("INSERT INTO repeats VALUES (?, ?, ?, ?, ?)", list(repeats))])

    def clear_analytics(self) -> None:
        """Forget every folded result (the stats reader starts again from the beginning)."""
        self._write(
            [
                (f"DELETE FROM {table}", ())
                for table in ("windows", "totals", "results", "repeats", "checkpoint")
            ]
        )

    def write_checkpoint(self, state: bytes) -> None:
        """Replace the stats reader's checkpoint."""
        self._write([("INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?)", (_now_ms(), state))])

    def checkpoint(self) -> bytes | None:
        """The stats reader's latest checkpoint, or None."""
        row = self._one("SELECT state FROM checkpoint WHERE id = 1")
        return None if row is None else bytes(row[0])

    def write_topic_configs(self, configs: Mapping[str, Mapping[str, str | None]]) -> None:
        """Replace the stored settings of each topic in ``configs``."""
        self._write(
            [
                ("DELETE FROM topic_configs WHERE topic = ?", [(t,) for t in configs]),
                (
                    "INSERT INTO topic_configs VALUES (?, ?, ?)",
                    [
                        (t, name, value)
                        for t, entries in configs.items()
                        for name, value in entries.items()
                    ],
                ),
            ]
        )

    def topic_configs(self, topic: str) -> pd.DataFrame:
        """name, value of ``topic``'s settings as last read, by name."""
        return self._frame(
            "SELECT name, value FROM topic_configs WHERE topic = ? ORDER BY name", (topic,)
        )

    def write_tail(self, rows: Iterable[TailRow], keep: int = TAIL_KEEP) -> None:
        """Add records to the live tail and keep only the newest ``keep``."""
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO tail VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (r.partition, r.offset, r.ts_ms, r.key, r.username, r.lang, r.text)
                        for r in rows
                    ],
                ),
                (
                    "DELETE FROM tail WHERE (partition, offset) NOT IN (SELECT partition, offset"
                    " FROM tail ORDER BY ts_ms DESC, offset DESC LIMIT ?)",
                    (keep,),
                ),
            ]
        )

    def prune(self, keep_seconds: float = KEEP_SECONDS, now_ms: int | None = None) -> None:
        """Delete cluster history older than ``keep_seconds`` and analytics windows older than
        ``keep_seconds`` before the newest window."""
        cutoff = (_now_ms() if now_ms is None else now_ms) - int(keep_seconds * 1000)
        keep_ms = int(keep_seconds * 1000)
        self._write(
            [(f"DELETE FROM {table} WHERE ts_ms < ?", (cutoff,)) for table in _HISTORY]
            + [
                (
                    "DELETE FROM windows WHERE window_ms < (SELECT MAX(window_ms) FROM windows)"
                    " - ?",
                    (keep_ms,),
                )
            ]
        )

    # -- reading -------------------------------------------------------------------------

    def _frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self._lock:
            return pd.read_sql_query(sql, self._db, params=list(params))

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def last_sample_ms(self) -> int | None:
        """When the newest good sample was taken; None before the first one."""
        return self._one("SELECT MAX(ts_ms) FROM samples")[0]

    def last_event_id(self) -> int | None:
        """The newest event's id (ids only grow): a cheap way to see that something changed
        in the cluster; None before the first event."""
        return self._one("SELECT MAX(rowid) FROM events")[0]

    def version(self) -> tuple[Any, ...]:
        """Changes whenever the collector writes: the newest sample, status, totals and
        checkpoint times, the settings and tail counts and the newest view of the cluster
        (last). Readers cache queries on it."""
        return self._one(
            "SELECT (SELECT MAX(ts_ms) FROM samples), (SELECT ts_ms FROM status),"
            " (SELECT ts_ms FROM totals), (SELECT MAX(offset) FROM tail),"
            " (SELECT COUNT(*) FROM topic_configs), (SELECT MAX(ts_ms) FROM results),"
            f" {_NEWEST_VIEW}"
        )

    def sample_times(self, since_ms: int = 0) -> pd.Series:
        """When each good sample from ``since_ms`` on was taken, oldest first."""
        frame = self._frame(
            "SELECT ts_ms FROM samples WHERE ts_ms >= ? ORDER BY ts_ms", (since_ms,)
        )
        return frame["ts_ms"]

    def status(self) -> dict[str, Any]:
        """{"ok", "message", "ts_ms", "last_ok_ms"}; ok is None before anything was recorded."""
        row = self._one("SELECT ok, message, ts_ms, last_ok_ms FROM status WHERE id = 1")
        if row is None:
            return {"ok": None, "message": "no sample yet", "ts_ms": None, "last_ok_ms": None}
        return {"ok": bool(row[0]), "message": row[1], "ts_ms": row[2], "last_ok_ms": row[3]}

    def brokers(self) -> pd.DataFrame:
        """Latest sample: node_id, host, port, up."""
        return self._frame(
            "SELECT node_id, host, port, up FROM brokers"
            " WHERE ts_ms = (SELECT MAX(ts_ms) FROM samples) ORDER BY node_id"
        )

    def cluster_brokers(self) -> pd.DataFrame:
        """Newest view: node_id, host, port, state (``BROKER_STATES``; "stopped" for a broker
        seen earlier and absent now, None when not probed), controller (bool)."""
        frame = self._frame(
            "SELECT node_id, host, port, up, state, COALESCE(controller, 0) AS controller"
            f" FROM brokers WHERE ts_ms = {_NEWEST_VIEW} ORDER BY node_id"
        )
        frame["state"] = [
            state if isinstance(state, str) else (None if up else "stopped")
            for up, state in zip(frame["up"], frame["state"], strict=True)
        ]
        frame["controller"] = frame["controller"].astype(bool)
        return frame.drop(columns="up")

    def cluster_partitions(self, topic: str | None = None) -> pd.DataFrame:
        """Newest view (of ``topic``, or of every topic): topic, partition, leader,
        leader_epoch, replicas, isr, offline (lists of node ids), high_watermark."""
        where, params = "", []
        if topic is not None:
            where, params = " AND topic = ?", [topic]
        frame = self._frame(
            "SELECT topic, partition, leader, leader_epoch, replicas, isr, offline,"
            f" high_watermark FROM partitions WHERE ts_ms = {_NEWEST_VIEW}"
            f"{where} ORDER BY topic, partition",
            params,
        )
        for column in ("replicas", "isr", "offline"):
            frame[column] = [_id_list(text) for text in frame[column]]
        return frame

    def quorum(self) -> dict[str, Any] | None:
        """The newest view's quorum {"leader_id", "leader_epoch", "high_watermark"}, or
        None when no controller could be asked."""
        row = self._one(
            "SELECT leader_id, leader_epoch, high_watermark FROM quorum"
            f" WHERE ts_ms = {_NEWEST_VIEW}"
        )
        if row is None:
            return None
        return dict(zip(("leader_id", "leader_epoch", "high_watermark"), row, strict=True))

    def quorum_replicas(self) -> pd.DataFrame:
        """Newest view: replica_id, role, log_end_offset, lag, last_fetch_ms,
        last_caught_up_ms; the leader first, then the voters, then the observers."""
        return self._frame(
            "SELECT replica_id, role, log_end_offset, lag, last_fetch_ms, last_caught_up_ms"
            f" FROM quorum_replicas WHERE ts_ms = {_NEWEST_VIEW}"
            " ORDER BY CASE role WHEN 'leader' THEN 0 WHEN 'voter' THEN 1 ELSE 2 END,"
            " replica_id"
        )

    def events(self, since_ms: int = 0, limit: int = 200, topic: str | None = None) -> pd.DataFrame:
        """The newest ``limit`` events from ``since_ms``, newest first: ts_ms, kind, topic,
        partition, node_id, text. With ``topic``, only that topic's events and those of the
        whole cluster (brokers, the controller, groups)."""
        where, arguments = "ts_ms >= ?", [since_ms]
        if topic is not None:
            where += " AND (topic IS NULL OR topic = ?)"
            arguments.append(topic)
        return self._frame(
            "SELECT ts_ms, kind, topic, partition, node_id, text FROM events"
            f" WHERE {where} ORDER BY ts_ms DESC, rowid DESC LIMIT ?",
            (*arguments, limit),
        )

    def event_counts(self, since_ms: int) -> dict[str, int]:
        """How many events of each kind from ``since_ms`` (every kind, 0 when none)."""
        rows = self._frame(
            "SELECT kind, COUNT(*) AS n FROM events WHERE ts_ms >= ? GROUP BY kind", (since_ms,)
        )
        counts = dict.fromkeys(EVENT_KINDS, 0)
        counts.update(zip(rows["kind"], (int(n) for n in rows["n"]), strict=True))
        return counts

    def topics(self) -> pd.DataFrame:
        """Latest sample: topic, partitions, records (sum of HW - log start), high_watermark."""
        return self._frame(
            "SELECT topic, COUNT(*) AS partitions, SUM(high_watermark - log_start) AS records,"
            " SUM(high_watermark) AS high_watermark FROM partitions"
            " WHERE ts_ms = (SELECT MAX(ts_ms) FROM samples) GROUP BY topic ORDER BY topic"
        )

    def partition_table(self, topic: str) -> pd.DataFrame:
        """Latest sample of ``topic``: partition, leader, replicas, isr, log_start,
        high_watermark, log_end_offsets ("replica:offset,..."; empty: not probed), records
        (HW - log start), under_replicated."""
        frame = self._frame(
            "SELECT partition, leader, replicas, isr, log_start, high_watermark,"
            " COALESCE(log_ends, '') AS log_end_offsets,"
            " high_watermark - log_start AS records FROM partitions"
            " WHERE topic = ? AND ts_ms = (SELECT MAX(ts_ms) FROM samples) ORDER BY partition",
            (topic,),
        )
        frame["under_replicated"] = [
            len(isr.split(",")) < len(rep.split(",")) if rep else False
            for rep, isr in zip(frame["replicas"], frame["isr"], strict=True)
        ]
        return frame

    def partition_history(self, topic: str, since_ms: int = 0) -> pd.DataFrame:
        """ts_ms, partition, log_start, high_watermark of ``topic`` over time."""
        return self._frame(
            "SELECT ts_ms, partition, log_start, high_watermark FROM partitions"
            " WHERE topic = ? AND ts_ms >= ? ORDER BY ts_ms, partition",
            (topic, since_ms),
        )

    def partition_rates(self, since_ms: int = 0, topic: str | None = None) -> pd.DataFrame:
        """ts_ms, topic, partition, messages_per_s: high-watermark deltas between consecutive
        samples (from the second sample at or after ``since_ms``)."""
        where, params = "ts_ms >= ?", [since_ms]
        if topic is not None:
            where, params = where + " AND topic = ?", [since_ms, topic]
        frame = self._frame(
            "SELECT ts_ms, topic, partition, rate AS messages_per_s FROM ("
            " SELECT ts_ms, topic, partition,"
            " (high_watermark - LAG(high_watermark) OVER w) * 1000.0"
            " / (ts_ms - LAG(ts_ms) OVER w) AS rate"
            f" FROM partitions WHERE {where}"
            " WINDOW w AS (PARTITION BY topic, partition ORDER BY ts_ms))"
            " WHERE rate >= 0 ORDER BY ts_ms, topic, partition",
            params,
        )
        return frame

    def topic_rates(self, since_ms: int = 0) -> pd.DataFrame:
        """ts_ms, topic, messages_per_s: the partition rates summed per topic and sample."""
        rates = self.partition_rates(since_ms)
        return rates.groupby(["ts_ms", "topic"], as_index=False)["messages_per_s"].sum()

    def groups(self) -> pd.DataFrame:
        """Latest sample: group_id, state, protocol_type, assignor, members, generation,
        lag (total)."""
        return self._frame(
            "SELECT g.group_id, g.state, g.protocol_type, g.assignor, g.members, g.generation,"
            " (SELECT SUM(o.lag) FROM group_offsets o WHERE o.group_id = g.group_id"
            "  AND o.ts_ms = g.ts_ms) AS lag"
            " FROM groups g WHERE g.ts_ms = (SELECT MAX(ts_ms) FROM samples)"
            " ORDER BY g.group_id"
        )

    def members(self, group: str) -> pd.DataFrame:
        """Latest sample: member_id, client_id, host, assignment ("topic:p,...")."""
        return self._frame(
            "SELECT member_id, client_id, host, assignment FROM members"
            " WHERE group_id = ? AND ts_ms = (SELECT MAX(ts_ms) FROM samples)"
            " ORDER BY member_id",
            (group,),
        )

    def group_history(self, group: str, since_ms: int = 0) -> pd.DataFrame:
        """ts_ms, state, assignor, generation of ``group``, one row per sample."""
        return self._frame(
            "SELECT ts_ms, state, assignor, generation FROM groups"
            " WHERE group_id = ? AND ts_ms >= ? ORDER BY ts_ms",
            (group, since_ms),
        )

    def member_history(self, group: str, since_ms: int = 0) -> pd.DataFrame:
        """ts_ms, member_id, client_id, assignment ("topic:p,...") of ``group``'s members,
        per sample."""
        return self._frame(
            "SELECT ts_ms, member_id, client_id, assignment FROM members"
            " WHERE ts_ms >= ? AND group_id = ? ORDER BY ts_ms, client_id",
            (since_ms, group),
        )

    def group_table(self, group: str) -> pd.DataFrame:
        """Latest sample of ``group``: topic, partition, committed (NaN: none), log_start,
        high_watermark, lag."""
        return self._frame(
            "SELECT o.topic, o.partition, o.committed, p.log_start, p.high_watermark, o.lag"
            " FROM group_offsets o LEFT JOIN partitions p ON p.topic = o.topic"
            " AND p.partition = o.partition AND p.ts_ms = o.ts_ms"
            " WHERE o.group_id = ? AND o.ts_ms = (SELECT MAX(ts_ms) FROM samples)"
            " ORDER BY o.topic, o.partition",
            (group,),
        )

    def partition_samples(self, topic: str, partition: int, since_ms: int = 0) -> pd.DataFrame:
        """seen_ms (when the sample had read its figures: its time plus how long it took),
        leader, replicas, isr, high_watermark, log_ends ("replica:offset,..."; NULL: not probed) of
        one partition in each good sample from ``since_ms``, oldest first."""
        return self._frame(
            "SELECT p.ts_ms + CAST(s.took_ms AS INTEGER) AS seen_ms, p.leader, p.replicas, p.isr,"
            " p.high_watermark, p.log_ends FROM partitions p JOIN samples s ON s.ts_ms = p.ts_ms"
            " WHERE p.topic = ? AND p.partition = ? AND p.ts_ms >= ? ORDER BY p.ts_ms",
            (topic, partition, since_ms),
        )

    def commit_samples(
        self, group: str, topic: str, partition: int, since_ms: int = 0
    ) -> pd.DataFrame:
        """seen_ms, committed (NaN: none) of ``group`` on one partition in each good sample
        from ``since_ms``, oldest first."""
        return self._frame(
            "SELECT o.ts_ms + CAST(s.took_ms AS INTEGER) AS seen_ms, o.committed"
            " FROM group_offsets o JOIN samples s ON s.ts_ms = o.ts_ms"
            " WHERE o.group_id = ? AND o.topic = ? AND o.partition = ? AND o.ts_ms >= ?"
            " ORDER BY o.ts_ms",
            (group, topic, partition, since_ms),
        )

    def repeats(self, since_ms: int = 0) -> pd.DataFrame:
        """ts_ms, partition, first_offset, last_offset, tweets of the results the fold
        dropped as repeats from ``since_ms``, oldest first."""
        return self._frame(
            "SELECT ts_ms, partition, first_offset, last_offset, tweets FROM repeats"
            " WHERE ts_ms >= ? ORDER BY ts_ms",
            (since_ms,),
        )

    def lag_history(self, group: str, since_ms: int = 0) -> pd.DataFrame:
        """ts_ms, topic, partition, committed, lag of ``group`` over time."""
        return self._frame(
            "SELECT ts_ms, topic, partition, committed, lag FROM group_offsets"
            " WHERE group_id = ? AND ts_ms >= ? ORDER BY ts_ms, topic, partition",
            (group, since_ms),
        )

    def consume_rates(self, since_ms: int = 0) -> pd.DataFrame:
        """ts_ms, group_id, messages_per_s: committed-offset deltas per second, summed over
        the group's partitions (partitions without a commit in both samples count 0)."""
        return self._frame(
            "SELECT ts_ms, group_id, SUM(COALESCE(rate, 0)) AS messages_per_s FROM ("
            " SELECT ts_ms, group_id, (committed - LAG(committed) OVER w) * 1000.0"
            " / (ts_ms - LAG(ts_ms) OVER w) AS rate, LAG(ts_ms) OVER w AS previous"
            " FROM group_offsets WHERE ts_ms >= ?"
            " WINDOW w AS (PARTITION BY group_id, topic, partition ORDER BY ts_ms))"
            " WHERE previous IS NOT NULL GROUP BY ts_ms, group_id ORDER BY ts_ms, group_id",
            (since_ms,),
        )

    def analytics_series(self, since_ms: int = 0) -> pd.DataFrame:
        """Per second of tweet time from ``since_ms``: window_ms, tweets, malformed, retweets,
        replies, mean_sentiment, positive, neutral, negative, languages (dict), hashtags
        (list of [tag, n])."""
        frame = self._frame(
            "SELECT window_ms, tweets, malformed, retweets, replies,"
            " CASE WHEN tweets > 0 THEN sentiment_sum / tweets ELSE 0.0 END AS mean_sentiment,"
            " positive, neutral, negative, languages, hashtags FROM windows"
            " WHERE window_ms >= ? ORDER BY window_ms",
            (since_ms,),
        )
        frame["languages"] = [json.loads(x) for x in frame["languages"]]
        frame["hashtags"] = [json.loads(x) for x in frame["hashtags"]]
        return frame

    def results_series(self, since_ms: int = 0) -> pd.DataFrame:
        """Per second of production time from ``since_ms``: ts_ms, tweets, mean_sentiment
        (NaN in a second that only superseded results)."""
        return self._frame(
            "SELECT ts_ms, tweets, CASE WHEN tweets > 0 THEN sentiment_sum / tweets END"
            " AS mean_sentiment FROM results WHERE ts_ms >= ? ORDER BY ts_ms",
            (since_ms,),
        )

    def analytics_totals(self) -> dict[str, Any] | None:
        """The latest totals snapshot (with mean_sentiment), or None before any result."""
        with self._lock:
            cursor = self._db.execute("SELECT * FROM totals WHERE id = 1")
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        if row is None:
            return None
        totals = dict(zip(names, row, strict=True))
        del totals["id"]
        for name in ("labels", "languages", "top_hashtags", "top_authors"):
            totals[name] = json.loads(totals[name])
        tweets = totals["tweets"]
        totals["mean_sentiment"] = totals["sentiment_sum"] / tweets if tweets else 0.0
        return totals

    def tail(self, n: int = 50) -> pd.DataFrame:
        """The ``n`` newest tweets: ts_ms, partition, offset, key, username, lang, text."""
        return self._frame(
            "SELECT ts_ms, partition, offset, key, username, lang, text FROM tail"
            " ORDER BY ts_ms DESC, offset DESC LIMIT ?",
            (n,),
        )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
