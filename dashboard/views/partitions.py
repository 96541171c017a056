"""Partitions: per topic its settings, and per partition the leader, replicas, ISR, offsets
and records; each partition drawn as a log (``dashboard.log_strip``); skew; high watermark
and log start over time and each group's lag, with the cluster's events marked."""

import streamlit as st

from dashboard import charts, log_strip, ui

st.title("Partitions")


@st.fragment(run_every=ui.refresh_s())
def partitions() -> None:
    store = ui.data()
    ui.banner(store)
    topics = store.topics()
    topic = ui.pick_topic(topics)
    if topic is None:
        return
    table = store.partition_table(topic)
    st.dataframe(table, hide_index=True)
    groups = store.groups()
    committed = {}
    for group in groups["group_id"] if len(groups) else []:
        offsets = store.group_table(group)
        committed[group] = offsets[offsets["topic"] == topic]
    if len(table):
        st.subheader("The partitions as logs")
        charts.show(log_strip.strip(table, committed))
        st.caption(log_strip.caption(table, log_strip.marks(table, committed)))
    settings = store.topic_configs(topic)
    if len(settings):
        st.subheader("Topic settings")
        st.dataframe(settings, hide_index=True)
    records = table[["partition", "records"]].dropna()
    if len(records) and records["records"].sum() > 0:
        hot = int(records.loc[records["records"].idxmax(), "partition"])
        share = records["records"].max() / records["records"].sum()
        st.subheader("Skew: records per partition")
        st.caption(
            f"The hot partition is {hot}: it holds {share:.0%} of the records "
            f"(an even spread would be {1 / len(records):.0%})."
        )
        charts.show(charts.bars(records, "records", "partition", color="partition"))
    history = store.partition_history(topic, store.since_ms(15))
    events = store.events(store.since_ms(15))
    marked = charts.events_for(events, topics=[topic])
    if len(history):
        high, start = st.columns(2)
        high.subheader("High watermark over time")
        with high:
            charts.show(charts.lines(history, "high_watermark", "partition", events=marked))
        start.subheader("Log start offset over time")
        with start:
            charts.show(charts.lines(history, "log_start", "partition", events=marked))
    for group, offsets in committed.items():
        if len(offsets):
            st.subheader(f"Group {group}: committed offset and lag")
            st.dataframe(offsets, hide_index=True)
            lag = store.lag_history(group, store.since_ms(15))
            lag = lag[lag["topic"] == topic]
            if len(lag):
                of_group = charts.events_for(events, topics=[topic], groups=[group])
                charts.show(charts.lines(lag, "lag", "partition", events=of_group))


partitions()
