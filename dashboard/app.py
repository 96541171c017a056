"""chirpstream's dashboard: ``streamlit run dashboard/app.py`` (``chirpstream dashboard``
starts it together with the collector).

The only router is ``st.navigation`` (the pages live in ``views/``, not ``pages/``, so
Streamlit never builds its file-based menu); the shared controls are built here, once per
run, so they keep their values across page switches."""

from pathlib import Path

import streamlit as st

from dashboard import ui

VIEWS = Path(__file__).parent / "views"

st.set_page_config(page_title="chirpstream", page_icon=":bird:", layout="wide")
page = st.navigation(
    [
        st.Page(VIEWS / "overview.py", title="Overview", default=True),
        st.Page(VIEWS / "cluster.py", title="Cluster"),
        st.Page(VIEWS / "partitions.py", title="Partitions"),
        st.Page(VIEWS / "groups.py", title="Consumer groups"),
        st.Page(VIEWS / "rebalances.py", title="Rebalances"),
        st.Page(VIEWS / "analytics.py", title="Analytics"),
        st.Page(VIEWS / "tail.py", title="Live tail"),
        st.Page(VIEWS / "produce.py", title="Produce"),
        st.Page(VIEWS / "keys.py", title="A key's journey"),
        st.Page(VIEWS / "trace.py", title="Follow one tweet"),
        st.Page(VIEWS / "replay.py", title="Crash before commit"),
        st.Page(VIEWS / "lessons.py", title="Lessons"),
    ]
)
ui.shared_controls()
page.run()
