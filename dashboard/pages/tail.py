"""Live tail: the newest tweets with the key, partition and offset each one got."""

import streamlit as st

from dashboard import ui

store, _, refresh = ui.settings()
st.title("Live tail")


@st.fragment(run_every=refresh)
def tail() -> None:
    ui.banner(store)
    latest = store.tail(50)
    if not len(latest):
        st.info("No tweets yet: start ingest with `chirpstream ingest`.")
        return
    latest = ui.with_time(latest)
    st.dataframe(
        latest[["time", "partition", "offset", "key", "username", "lang", "text"]], hide_index=True
    )


tail()
