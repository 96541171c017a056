"""Live tail: the newest tweets with the key, partition and offset each one got."""

import streamlit as st

from dashboard import charts, ui

st.title("Live tail")
st.page_link("views/trace.py", label="Follow one of these tweets through the pipeline")


@st.fragment(run_every=ui.refresh_s())
def tail() -> None:
    store = ui.data()
    ui.banner(store)
    latest = store.tail(50)
    if not len(latest):
        st.info("No tweets yet: start ingest with `chirpstream ingest`.")
        return
    latest["time"] = charts.local_times(latest["ts_ms"])
    st.caption(f"Times are in {charts.viewer_timezone()}.")
    st.dataframe(
        latest[["time", "partition", "offset", "key", "username", "lang", "text"]],
        hide_index=True,
        column_config={"time": st.column_config.DatetimeColumn(format="HH:mm:ss.SSS")},
    )


tail()
