"""Produce: type a tweet and see the partition and offset Kafka gives it."""

import streamlit as st
from confluent_kafka import KafkaException

from dashboard import ui
from dashboard.produce import send

bootstrap = ui.bootstrap()
st.title("Produce a tweet")
st.caption(
    "The key is the author, hashed with Kafka's murmur2 partitioner: the same author "
    "always lands on the same partition. Try it twice."
)
with st.form("produce"):
    author = st.text_input("Author", "teacher", key="author")
    text = st.text_area("Text", "Hello from the classroom! #kafka", key="text")
    sent = st.form_submit_button("Send")
if sent:
    try:
        partition, offset = send(
            bootstrap, author.strip() or "anonymous", text, client_config=ui.client_config()
        )
    except KafkaException as exc:
        st.error(f"Not sent: {exc.args[0]}. Is Kafka running at {bootstrap}?")
    else:
        st.success(f"Stored in partition {partition} at offset {offset}.")
        st.session_state["tweet"] = f"{partition}:{offset}"  # the tweet the trace page follows
        st.page_link("views/trace.py", label="Follow this tweet through the pipeline")
