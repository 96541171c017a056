"""Cluster: the brokers, each replica of the chosen topic's partitions by role, Kafka's
replication counters, the controller quorum, the timeline of what changed and, on the
bundled cluster, the broker controls.

The page redraws at the refresh interval. For ``FOLLOW_S`` after a broker control was used
on it, it also follows the cluster closely: a small fragment asks the store for its newest
event every ``WATCH_S`` (one indexed lookup) and reruns the page when one came after what
it shows, so the election a Kill sets off is on the screen a fraction of a second after
the collector stores it. Only then: a tab polling every 0.25 s costs the server about a
quarter of a core more (measured), which a class with a tab each cannot afford all the
time."""

import time

import streamlit as st

from dashboard import broker_controls, charts, replicas, ui

EVENTS_HEIGHT = 21 * 35 + 3  # pixels: a header and 20 rows of st.dataframe's grid
EVENTS_SHOWN = 200  # the newest, of the last hour
WATCH_S = 0.25
FOLLOW_S = 30.0  # long enough for a killed leader's fencing and the elections after it
SHOWN_EVENT = "cluster_shown_event"  # session state: the newest event id the page drew
st.title("Cluster")


def following() -> bool:
    """Whether a broker control was used on this page less than ``FOLLOW_S`` ago."""
    acted = st.session_state.get(broker_controls.ACTED_AT)
    return acted is not None and time.monotonic() - acted < FOLLOW_S


@st.fragment(run_every=WATCH_S)
def watch() -> None:
    """Rerun the page when an event is stored after the newest one it shows, and once
    more when following ends (that run no longer starts this fragment)."""
    if ui.store().last_event_id() != st.session_state.get(SHOWN_EVENT) or not following():
        st.rerun()


@st.fragment(run_every=ui.refresh_s())
def cluster() -> None:
    # Read before the data: what is drawn is at least as new as the id kept.
    st.session_state[SHOWN_EVENT] = ui.store().last_event_id()
    store = ui.data()
    ui.banner(store)
    brokers = store.cluster_brokers()
    partitions = store.cluster_partitions()
    quorum = store.quorum()
    if brokers.empty:
        st.info("No brokers seen yet.")
        return
    bundled = broker_controls.bundled_cluster(brokers)
    brokers = broker_controls.with_process_states(brokers, bundled)
    last_minute = store.event_counts(store.since_ms(1))
    shown = list(replicas.counters(partitions, brokers, quorum, last_minute).items())
    # Two rows of three: in one row of six, Kafka's long names are cut short.
    for row in (shown[:3], shown[3:]):
        for column, (name, value) in zip(st.columns(3), row, strict=True):
            column.metric(name, value)

    topics = sorted(partitions["topic"].unique()) if len(partitions) else []
    topic = ui.pick("Topic", topics, "topic", "tweets")
    if topic is not None:
        cells = replicas.cells(partitions[partitions["topic"] == topic], brokers)
        st.subheader(f"Replicas of {topic}")
        st.caption(
            "One column per broker (★: the active controller), one row per partition. In-sync:"
            " in the ISR; out-of-sync: alive, behind by more than replica.lag.time.max.ms;"
            " offline: its broker is fenced, stopped or paused."
        )
        charts.show(replicas.grid(cells, brokers))

    st.subheader("Brokers")
    leads = partitions[partitions["leader"] >= 0].groupby("leader").size()
    table = brokers.assign(
        address=brokers["host"] + ":" + brokers["port"].astype(str),
        leaderships=[int(leads.get(n, 0)) for n in brokers["node_id"]],
    )
    columns = ["node_id", "address", "state", "pid", "controller", "leaderships"]
    st.dataframe(table[[c for c in columns if c in table]], hide_index=True)
    broker_controls.show(brokers, bundled)

    st.subheader("Controller quorum")
    if quorum is None:
        st.caption(
            "No controller answered DescribeQuorum: a single-node broker has no quorum, or"
            " `chirpstream dashboard --bootstrap-controller HOST:PORT` names none reachable."
        )
    else:
        leader, epoch, high = st.columns(3)
        leader.metric("Leader (active controller)", quorum["leader_id"])
        epoch.metric("Epoch", quorum["leader_epoch"])
        high.metric("High watermark", f"{quorum['high_watermark']:,}")
        voters = store.quorum_replicas()
        # The quorum's leader stamps these when it answers, after the view's sample began:
        # one as new as the view is "0 s ago", never a negative age.
        for column, name in (("last_fetch_ms", "fetched"), ("last_caught_up_ms", "caught up")):
            age_s = ((store.view_ms - voters.pop(column)) / 1000).clip(lower=0)
            voters[f"{name} (s ago)"] = age_s.round(1)
        st.dataframe(voters, hide_index=True)

    st.subheader("Events")
    events = store.events(store.since_ms(60), EVENTS_SHOWN, topic)
    scope = "the cluster" if topic is None else f"{topic} and the cluster"
    if events.empty:
        st.caption(f"Nothing changed in {scope} in the last hour.")
    else:
        st.caption(
            f"What changed in {scope} (brokers, the controller, groups), newest first; pick"
            " another topic above for its partitions' events."
        )
        events = events.assign(time=charts.local_times(events["ts_ms"]))
        # Tall enough for everything one broker's death sets off in a topic (its leaderships,
        # the ISR shrinks, its state) to be seen at once, newest first.
        st.dataframe(
            events[["time", "kind", "text"]],
            hide_index=True,
            height=EVENTS_HEIGHT,
            # The time of day is what a class follows (the date and zone are noise here).
            column_config={"time": st.column_config.DatetimeColumn(format="HH:mm:ss")},
        )


cluster()
if following():
    watch()
