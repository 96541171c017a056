"""chirpstream's dashboard: ``streamlit run dashboard/app.py`` (``chirpstream dashboard``
starts it together with the collector)."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="chirpstream", page_icon=":bird:", layout="wide")
st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", default=True),
        st.Page(PAGES / "partitions.py", title="Partitions"),
        st.Page(PAGES / "groups.py", title="Consumer groups"),
        st.Page(PAGES / "analytics.py", title="Analytics"),
        st.Page(PAGES / "tail.py", title="Live tail"),
        st.Page(PAGES / "produce.py", title="Produce"),
    ]
).run()
