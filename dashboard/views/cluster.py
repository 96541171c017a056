"""Cluster: the brokers, each replica of the chosen topic's partitions by role, Kafka's
replication counters, the controller quorum and the timeline of what changed."""

import streamlit as st

from dashboard import charts, replicas, ui

st.title("Cluster")


@st.fragment(run_every=ui.refresh_s())
def cluster() -> None:
    store = ui.data()
    ui.banner(store)
    brokers = store.cluster_brokers()
    partitions = store.cluster_partitions()
    quorum = store.quorum()
    if brokers.empty:
        st.info("No brokers seen yet.")
        return
    last_minute = store.event_counts(store.since_ms(1))
    shown = replicas.counters(partitions, brokers, quorum, last_minute)
    for column, (name, value) in zip(st.columns(len(shown)), shown.items(), strict=True):
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
    )[["node_id", "address", "state", "controller", "leaderships"]]
    st.dataframe(table, hide_index=True)

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
        st.dataframe(store.quorum_replicas(), hide_index=True)

    st.subheader("Events")
    events = store.events(store.since_ms(60))
    if events.empty:
        st.caption("Nothing changed in the last hour.")
    else:
        events = events.assign(time=charts.local_times(events["ts_ms"]))
        st.dataframe(events[["time", "kind", "text"]], hide_index=True)


cluster()
