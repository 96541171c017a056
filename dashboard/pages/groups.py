"""Consumer groups: state, members and their partitions, lag over time, time to drain."""

import pandas as pd
import streamlit as st

from dashboard import ui

store, _, refresh = ui.settings()
st.title("Consumer groups")
groups = store.groups()
names = list(groups["group_id"]) if len(groups) else []
group = st.selectbox("Group", names, index=names.index("analytics") if "analytics" in names else 0)


def drain_estimate(lag: int, rates) -> str:
    """How long the lag takes to drain at the recent consume rate."""
    if lag <= 0:
        return "No lag: the group is caught up."
    recent = rates["messages_per_s"].tail(10).mean() if len(rates) else 0.0
    if not recent or recent <= 0:
        return f"Lag {lag:,} and nothing consumed recently: it will not drain."
    return f"Lag {lag:,} drains in about {lag / recent:,.0f} s at {recent:,.0f} messages/s."


@st.fragment(run_every=refresh)
def group_page() -> None:
    ui.banner(store)
    if group is None:
        st.info("No consumer groups yet.")
        return
    row = store.groups().set_index("group_id").loc[group]
    columns = st.columns(5)
    columns[0].metric("State", row["state"])
    columns[1].metric("Generation", int(row["generation"]) if pd.notna(row["generation"]) else "-")
    columns[2].metric("Members", int(row["members"]))
    columns[3].metric("Assignor", row["assignor"] or "-")
    lag = int(row["lag"]) if pd.notna(row["lag"]) else 0
    columns[4].metric("Total lag", f"{lag:,}")
    rates = store.consume_rates(ui.since_ms(5))
    st.caption(drain_estimate(lag, rates[rates["group_id"] == group]))
    st.subheader("Members and their partitions")
    st.dataframe(store.members(group), hide_index=True)
    st.subheader("Committed offsets and lag")
    st.dataframe(store.group_table(group), hide_index=True)
    history = store.lag_history(group, ui.since_ms(15))
    if len(history):
        st.subheader("Lag over time, per partition")
        st.line_chart(ui.with_time(history), x="time", y="lag", color="partition")


group_page()
