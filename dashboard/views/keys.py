"""A key's journey: a typed key's bytes, murmur2 hash, positive mask and partition, as the
Java client and librdkafka's ``murmur2_random`` place it (``dashboard.key_journey``); then
which of the live tail's recent keys would move if the topic had one partition more."""

import streamlit as st

from dashboard import charts, key_journey, ui

st.title("A key's journey")
TAIL_TOPIC = "tweets"  # the live tail the collector keeps is of this topic
RECENT = 200


@st.fragment(run_every=ui.refresh_s())
def keys() -> None:
    store = ui.data()
    ui.banner(store)
    topics = store.topics()
    topic = ui.pick_topic(topics)
    if topic is None:
        return
    count = int(topics.loc[topics["topic"] == topic, "partitions"].iloc[0])
    recent = store.tail(RECENT)["key"] if topic == TAIL_TOPIC else []
    recent_keys = [k for k in recent if isinstance(k, str)]
    st.session_state.setdefault("journey_key", recent_keys[0] if recent_keys else "ada")
    key = st.text_input("Key", key="journey_key")
    journey = key_journey.journey(key, count)
    st.subheader(f"Key {key!r} goes to partition {journey.partition} of {count}")
    st.dataframe(journey.steps(), hide_index=True)
    st.caption(
        "A record with no key (null, not an empty string) takes no hash: the Java client "
        "places it with its sticky partitioner, librdkafka's murmur2_random on a random "
        "partition."
    )
    st.subheader(f"What if {topic} had {count + 1} partitions?")
    if not recent_keys:
        st.info(f"No recent keys: the live tail holds the newest keys of {TAIL_TOPIC}.")
        return
    moved = key_journey.moves(recent_keys, count)
    moving = moved[moved["moves"]]
    st.caption(
        f"{len(moving)} of the {len(moved)} recent keys would land on another partition: "
        "their new records would be read out of order with their old ones, which stay where "
        "they are. Choose the partition count up front."
    )
    charts.show(key_journey.moves_grid(moved))
    st.dataframe(moving[["key", "now", "after"]], hide_index=True)


keys()
