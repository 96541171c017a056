"""Follow one tweet: pick one of the live tail's newest tweets, or the one just sent from the
Produce page, and see its key, partition and offset, the replicas that hold it, each hop it
took through the pipeline and when (``dashboard.trace``), and the ``tweet-stats`` result that
counted it (``dashboard.trace_reader``).

While the collector's newest sample says the cluster cannot be reached, the page reads nothing
from Kafka (each read would wait out its timeout, every refresh): it answers at once from what
the collector and this session already hold, the tweet from the live tail or as read before,
and the result if one was found before, and says so in one line."""

import json
import re

import pandas as pd
import streamlit as st
from confluent_kafka import KafkaException

from dashboard import charts, trace, trace_reader, ui
from dashboard.trace_reader import Results, TweetRecord

st.title("Follow one tweet")
CHOICE = "tweet"  # session state and query parameter: "partition:offset"
PICKED = re.compile(r"\d+:\d+")
TAIL = 50
RESULTS = "trace_results"  # session state: (config, partition, offset) -> closed Results
TWEETS = "trace_tweets"  # session state: (config, partition, offset) -> TweetRecord read
UNREACHABLE = (
    "The cluster cannot be reached: nothing is read from Kafka until the collector reaches it"
    " again; shown here is what it saw before."
)


@st.cache_data(max_entries=64, show_spinner=False)
def read_tweet(config_json: str, partition: int, offset: int) -> TweetRecord:
    """A record never changes: read once. Raises LookupError when it cannot be read (not
    cached: it may be readable on the next run)."""
    found = trace_reader.read_tweet(json.loads(config_json), partition, offset)
    if found is None:
        raise LookupError(f"partition {partition} holds no offset {offset}")
    return found


@st.cache_data(ttl=2, max_entries=16, show_spinner=False)
def search_results(config_json: str, partition: int, offset: int, since_ms: int) -> Results:
    return trace_reader.find_results(json.loads(config_json), partition, offset, since_ms)


def find_results(config_json: str, partition: int, offset: int, since_ms: int) -> Results:
    """Searched again (every 2 s at most) until the tweet's run closed, then kept: no longer
    result will come."""
    kept = st.session_state.setdefault(RESULTS, {})
    found = kept.get((config_json, partition, offset))
    if found is None:
        found = search_results(config_json, partition, offset, since_ms)
        if found.closed:
            kept[(config_json, partition, offset)] = found
    return found


def cluster_down(store: ui.Data) -> bool:
    """Whether the collector's newest sample could not reach the cluster."""
    return store.status()["ok"] is False


def known_tweet(
    config_json: str, tail: pd.DataFrame, partition: int, offset: int
) -> TweetRecord | None:
    """The tweet as this session read it before, or as the live tail holds it."""
    read = st.session_state.get(TWEETS, {}).get((config_json, partition, offset))
    return read if read is not None else from_tail(tail, partition, offset)


def from_tail(tail: pd.DataFrame, partition: int, offset: int) -> TweetRecord | None:
    """The tweet as the collector's live tail holds it (when Kafka cannot be read)."""
    rows = tail[(tail["partition"] == partition) & (tail["offset"] == offset)]
    if not len(rows):
        return None
    row = rows.iloc[0]
    key = row["key"] if isinstance(row["key"], str) else None
    return TweetRecord(partition, offset, key, int(row["ts_ms"]), False, str(row["text"]))


def choose(tail: pd.DataFrame) -> tuple[int, int] | None:
    """The tweet picked: kept in session state and the URL (a shareable link)."""
    labels = {
        f"{r.partition}:{r.offset}": f"p{r.partition} @ {r.offset} · {r.key}: {r.text[:60]}"
        for r in tail.itertuples()
    }
    chosen = st.session_state.get(CHOICE) or st.query_params.get(CHOICE)
    if chosen and not PICKED.fullmatch(chosen):  # a hand-edited link: start on the newest
        chosen = None
    if chosen and chosen not in labels:
        labels = {chosen: f"p{chosen.replace(':', ' @ ')}", **labels}
    if not labels:
        return None
    options = list(labels)
    chosen = st.selectbox(
        "Tweet (the live tail's newest, or the one sent from Produce)",
        options,
        index=options.index(chosen) if chosen in labels else 0,
        format_func=labels.get,
    )
    st.session_state[CHOICE] = chosen
    if st.query_params.get(CHOICE) != chosen:
        st.query_params[CHOICE] = chosen
    partition, offset = chosen.split(":")
    return int(partition), int(offset)


@st.fragment(run_every=ui.refresh_s())
def follow() -> None:
    store = ui.data()
    ui.banner(store)
    tail = store.tail(TAIL)
    picked = choose(tail)
    if picked is None:
        st.info("No tweets yet: start ingest, or send one from the Produce page.")
        return
    partition, offset = picked
    config = json.dumps({**ui.client_config(), "bootstrap.servers": ui.bootstrap()})
    down = cluster_down(store)
    if down:
        st.info(UNREACHABLE)
        tweet = known_tweet(config, tail, partition, offset)
        if tweet is None:
            return
        results = st.session_state.get(RESULTS, {}).get((config, partition, offset))
    else:
        try:
            tweet = read_tweet(config, partition, offset)
            st.session_state.setdefault(TWEETS, {})[(config, partition, offset)] = tweet
        except (LookupError, KafkaException) as exc:
            tweet = from_tail(tail, partition, offset)
            if tweet is None:
                st.warning(f"Cannot read the tweet: {exc}. Retention may have deleted it.")
                return
        results = None
        try:
            results = find_results(config, partition, offset, tweet.timestamp_ms)
        except KafkaException as exc:
            st.warning(f"Cannot read tweet-stats ({exc.args[0]}): the result is not shown.")
    traced = trace.follow(store, tweet, results)
    st.subheader(f"Key {tweet.key!r}: partition {partition}, offset {offset}")
    st.caption(tweet.text)
    member = traced.member_id or "not known yet"
    client = f" ({traced.client_id})" if traced.client_id else ""
    st.markdown(f"Read by member `{member}`{client} of `{trace.ANALYTICS_GROUP}`.")
    st.subheader("Its hops")
    charts.show(trace.timeline(traced))
    hops = traced.table()
    hops["time"] = charts.local_times(hops["at_ms"])
    st.dataframe(
        hops[["hop", "time", "after_ms", "known", "how"]],
        hide_index=True,
        column_config={"time": st.column_config.DatetimeColumn(format="HH:mm:ss.SSS")},
    )
    st.caption(
        f"Times are in {charts.viewer_timezone()}. Exact: from a record. Seen by: the first "
        "collector sample (every second) that showed it; it happened before."
    )
    st.subheader("The replicas that hold it")
    replicas = traced.replicas.copy()
    replicas["holds_since"] = charts.local_times(replicas["holds_since_ms"])
    st.dataframe(
        replicas[["replica", "holds_since", "in_isr"]],
        hide_index=True,
        column_config={"holds_since": st.column_config.DatetimeColumn(format="HH:mm:ss.SSS")},
    )
    st.subheader("The result that counted it")
    counted = results.counted if results is not None else None
    if counted is None:
        if not down:
            st.info("No tweet-stats result covers it yet.")
        return
    rows = [("counted it (the fold keeps the longest)", counted)]
    if results.first is not None and results.first != counted:
        rows.insert(0, ("counted it first (a partial, superseded)", results.first))
    st.dataframe(
        pd.DataFrame(
            [
                (
                    role,
                    r.stats_offset,
                    r.partition,
                    f"{r.first_offset}..{r.last_offset}",
                    r.tweets,
                    r.member_id,
                )
                for role, r in rows
            ],
            columns=["result", "tweet-stats offset", "partition", "offsets", "tweets", "member"],
        ),
        hide_index=True,
    )
    if not results.closed:
        st.caption("Its run may still grow: a longer result would supersede this one.")


follow()
