"""Consumer groups: state, members and their partitions, lag over time (with the group's
rebalances and its topics' cluster events marked), time to drain."""

import pandas as pd
import streamlit as st

from dashboard import charts, ui
from dashboard.lag import drain_estimate

st.title("Consumer groups")


@st.fragment(run_every=ui.refresh_s())
def group_page() -> None:
    store = ui.data()
    ui.banner(store)
    groups = store.groups()
    group = ui.pick("Group", list(groups["group_id"]) if len(groups) else [], "group", "analytics")
    if group is None:
        st.info("No consumer groups yet.")
        return
    row = groups.set_index("group_id").loc[group]
    columns = st.columns(5)
    columns[0].metric("State", row["state"])
    columns[1].metric("Generation", int(row["generation"]) if pd.notna(row["generation"]) else "-")
    columns[2].metric("Members", int(row["members"]))
    columns[3].metric("Assignor", row["assignor"] or "-")
    lag = int(row["lag"]) if pd.notna(row["lag"]) else 0
    columns[4].metric("Total lag", f"{lag:,}")
    history = store.lag_history(group, store.since_ms(15))
    st.caption(drain_estimate(history))
    st.subheader("Members and their partitions")
    st.dataframe(store.members(group), hide_index=True)
    st.subheader("Committed offsets and lag")
    st.dataframe(store.group_table(group), hide_index=True)
    if len(history):
        st.subheader("Lag over time, per partition")
        events = store.events(store.since_ms(15))
        marked = charts.events_for(events, topics=history["topic"].unique(), groups=[group])
        charts.show(charts.lines(history, "lag", "partition", events=marked))


group_page()
