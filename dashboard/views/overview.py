"""Overview: messages in per topic and consumed per group, over time, with the cluster's events
marked; brokers and totals."""

import streamlit as st

from dashboard import charts, ui

st.title("Overview")


@st.fragment(run_every=ui.refresh_s())
def overview() -> None:
    store = ui.data()
    ui.banner(store)
    brokers, topics = store.brokers(), store.topics()
    rates = store.topic_rates(store.since_ms(15))
    consumed = store.consume_rates(store.since_ms(15))
    events = store.events(store.since_ms(15))
    latest_in = rates[rates["ts_ms"] == rates["ts_ms"].max()] if len(rates) else rates
    columns = st.columns(4)
    columns[0].metric("Brokers up", int(brokers["up"].sum()) if len(brokers) else 0)
    columns[1].metric("Topics", len(topics))
    columns[2].metric("Messages in /s", f"{latest_in['messages_per_s'].sum():,.0f}")
    columns[3].metric("Records stored", f"{int(topics['records'].sum()) if len(topics) else 0:,}")
    st.subheader("Messages in per second, by topic")
    if len(rates):
        marked = charts.events_for(events, topics=rates["topic"].unique())
        chart = charts.lines(rates, "messages_per_s", "topic", title="messages/s", events=marked)
        charts.show(chart)
    names = list(topics["topic"]) if len(topics) else []
    topic = ui.pick("Topic", names, "topic", "tweets")
    if topic is not None:
        by_partition = store.partition_rates(store.since_ms(15), topic)
        st.subheader(f"Messages in per second, by partition of {topic}")
        if len(by_partition):
            marked = charts.events_for(events, topics=[topic])
            charts.show(
                charts.lines(
                    by_partition, "messages_per_s", "partition", title="messages/s", events=marked
                )
            )
    st.subheader("Messages consumed per second, by group")
    if len(consumed):
        marked = charts.events_for(events, groups=consumed["group_id"].unique())
        charts.show(
            charts.lines(consumed, "messages_per_s", "group_id", title="messages/s", events=marked)
        )
    st.subheader("Topics")
    st.dataframe(topics, hide_index=True)


overview()
