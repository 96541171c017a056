"""Analytics: tweets analysed per second and their sentiment, by when the results were
produced; top hashtags, languages, top authors, folded exactly from ``tweet-stats``."""

import pandas as pd
import streamlit as st

from dashboard import charts, ui

st.title("Analytics")


@st.fragment(run_every=ui.refresh_s())
def analytics() -> None:
    store = ui.data()
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
    # By production time: simulated tweet time can run far ahead of the clock.
    series = store.results_series(store.since_ms(15))
    if len(series):
        st.subheader("Tweets analysed per second (when the results were produced)")
        charts.show(charts.lines(series, "tweets", title="tweets/s"))
        st.subheader("Mean sentiment of those tweets")
        charts.show(charts.lines(series, "mean_sentiment", title="mean sentiment"))
    left, right = st.columns(2)
    left.subheader("Top hashtags")
    with left:
        hashtags = pd.DataFrame(totals["top_hashtags"], columns=["hashtag", "tweets"])
        charts.show(charts.bars(hashtags, "tweets", "hashtag"))
    right.subheader("Languages")
    with right:
        languages = pd.DataFrame(list(totals["languages"].items()), columns=["lang", "tweets"])
        charts.show(charts.bars(languages, "tweets", "lang"))
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
