"""Partitions: per topic the leader, replicas, ISR, offsets and records; skew; HW and lag
over time per partition."""

import streamlit as st

from dashboard import ui

store, _, refresh = ui.settings()
st.title("Partitions")
topics = store.topics()
names = list(topics["topic"]) if len(topics) else []
topic = st.selectbox("Topic", names, index=names.index("tweets") if "tweets" in names else 0)


@st.fragment(run_every=refresh)
def partitions() -> None:
    ui.banner(store)
    if topic is None:
        st.info("No topics yet.")
        return
    table = store.partition_table(topic)
    st.dataframe(table, hide_index=True)
    records = table.set_index("partition")["records"]
    if len(records) and records.sum() > 0:
        hot = int(records.idxmax())
        share = records.max() / records.sum()
        st.subheader("Skew: records per partition")
        st.caption(
            f"The hot partition is {hot}: it holds {share:.0%} of the records "
            f"(an even spread would be {1 / len(records):.0%})."
        )
        st.bar_chart(records)
    history = store.partition_history(topic, ui.since_ms(15))
    if len(history):
        st.subheader("High watermark over time")
        st.line_chart(ui.with_time(history), x="time", y="high_watermark", color="partition")
    groups = store.groups()
    for group in groups["group_id"] if len(groups) else []:
        offsets = store.group_table(group)
        offsets = offsets[offsets["topic"] == topic]
        if len(offsets):
            st.subheader(f"Group {group}: committed offset and lag")
            st.dataframe(offsets, hide_index=True)
            lag = store.lag_history(group, ui.since_ms(15))
            lag = lag[lag["topic"] == topic]
            st.line_chart(ui.with_time(lag), x="time", y="lag", color="partition")


partitions()
