"""Analytics: tweets per second, sentiment over time, top hashtags, languages, top authors,
folded exactly from ``tweet-stats``."""

import pandas as pd
import streamlit as st

from dashboard import ui

store, _, refresh = ui.settings()
st.title("Analytics")


@st.fragment(run_every=refresh)
def analytics() -> None:
    ui.banner(store)
    totals = store.analytics_totals()
    if totals is None:
        st.info("No analytics yet: start the workers with `chirpstream analytics`.")
        return
    columns = st.columns(4)
    columns[0].metric("Tweets analysed", f"{totals['tweets']:,}")
    columns[1].metric("Mean sentiment", f"{totals['mean_sentiment']:+.3f}")
    columns[2].metric("Retweets", f"{totals['retweets']:,}")
    columns[3].metric("Malformed", f"{totals['malformed']:,}")
    series = store.analytics_series()
    if len(series):
        series = ui.with_time(series.tail(600), "window_ms")
        st.subheader("Tweets per second (tweet time)")
        st.line_chart(series, x="time", y="tweets")
        st.subheader("Sentiment over time")
        st.line_chart(series, x="time", y="mean_sentiment")
    left, right = st.columns(2)
    left.subheader("Top hashtags")
    left.bar_chart(
        pd.DataFrame(totals["top_hashtags"], columns=["hashtag", "tweets"]),
        x="hashtag",
        y="tweets",
        horizontal=True,
    )
    right.subheader("Languages")
    languages = pd.Series(totals["languages"], name="tweets").sort_values(ascending=False)
    right.bar_chart(languages, horizontal=True)
    st.subheader("Top authors")
    st.dataframe(
        pd.DataFrame(totals["top_authors"], columns=["author_id", "username", "tweets"]),
        hide_index=True,
    )
    st.caption(
        f"Folded {totals['applied']:,} results; dropped {totals['duplicates']:,} "
        f"repeats and replaced {totals['superseded']:,} partial results."
    )


analytics()
