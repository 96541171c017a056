"""Lessons: the README's classroom walkthrough as ten lessons, one at a time. Each has a
paragraph, a question the student answers first (the button stays disabled until then), one
button that does the step on the cluster, and the page to watch while it happens.

The lessons are data (``dashboard.lessons.catalog``); what the buttons do is in
``dashboard.lessons.steps``. The steps that stop a broker act only on the cluster
``chirpstream up`` started (its run file, as for the Cluster page's broker controls), those
that add or crash a worker only on the workers ``up`` runs (its ``workers.json``, next to the
store); elsewhere their button is disabled and says why."""

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from confluent_kafka import KafkaException

from chirpstream import run_file, workers
from chirpstream.controls import ControlError
from dashboard import broker_controls, ui
from dashboard.lessons import catalog
from dashboard.lessons.steps import Classroom, LessonError

CHOSEN = "lesson"  # session state and query parameter: the lesson shown
WHY_NOT = {  # why a lesson's button is disabled, by what it needs
    "brokers": "This step stops a broker: it acts only on the cluster `chirpstream up` started"
    " on this machine, and none is recorded for these bootstrap servers.",
    "workers": "This step acts on the analytics workers: only on those `chirpstream up` runs,"
    " and none are recorded next to this dashboard's store.",
}


def classroom() -> Classroom:
    bootstrap = ui.bootstrap()
    record = run_file.live(broker_controls.run_file_path())
    if record is not None and not record.serves(bootstrap):
        record = None
    up_dir = Path(ui.store_path()).parent  # `chirpstream up` keeps the store in its data dir
    pipeline = workers.read(up_dir)
    running = pipeline is not None and pipeline.up.alive()
    return Classroom(bootstrap, ui.client_config(), record, up_dir if running else None)


def why_not(lesson: catalog.Lesson, room: Classroom) -> str | None:
    """Why the lesson's button cannot act here; None when it can."""
    if lesson.needs == "brokers" and room.record is None:
        return WHY_NOT["brokers"]
    if lesson.needs == "workers" and room.up_dir is None:
        return WHY_NOT["workers"]
    return None


def chosen() -> catalog.Lesson:
    """The lesson picked, kept in the URL (``?lesson=3``) so a link opens it."""
    titles = [f"{lesson.number}. {lesson.title}" for lesson in catalog.LESSONS]
    asked = st.session_state.get(CHOSEN) or st.query_params.get(CHOSEN, "1")
    index = int(asked) - 1 if str(asked).isdigit() and 1 <= int(asked) <= len(titles) else 0
    title = st.selectbox("Lesson", titles, index=index, key="lesson-picker")
    number = titles.index(title) + 1
    st.session_state[CHOSEN] = str(number)
    if st.query_params.get(CHOSEN) != str(number):
        st.query_params[CHOSEN] = str(number)
    return catalog.lesson(number)


def show_facts(facts: dict[str, Any]) -> None:
    rows = facts.get("rows")
    if rows is not None:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    rest = {name: value for name, value in facts.items() if name != "rows"}
    if rest:  # a static table: drawn at once, and whole in a screenshot
        figures = [json.dumps(value, default=str) for value in rest.values()]
        st.table(pd.DataFrame({"figure": list(rest), "value": figures}).set_index("figure"))


st.title("Lessons")
st.caption(
    "The README's classroom walkthrough, one step at a time, on this cluster: read, answer"
    " the question, press the button, watch the page it names. Every run shows the same:"
    " the lessons' records, keys and partitions are fixed. Run them in order."
)
room = classroom()
lesson = chosen()
st.header(f"Lesson {lesson.number}: {lesson.title}")
st.markdown(lesson.paragraph)
st.caption(f"In a terminal: step {lesson.readme_step} of the README's classroom walkthrough.")

st.subheader("Predict first")
guess = st.radio(lesson.question, lesson.choices, index=None, key=f"lesson-{lesson.number}-guess")
blocked = why_not(lesson, room)
if blocked:
    st.caption(blocked)
pressed = st.button(
    lesson.button,
    key=f"lesson-{lesson.number}-run",
    type="primary",
    disabled=guess is None or blocked is not None,
    help=blocked or "answer the question first, then see what happens",
)
done_key = f"lesson-{lesson.number}-done"
if pressed:
    with st.spinner(f"{lesson.button}…"):
        try:
            st.session_state[done_key] = (guess, lesson.step(room), None)
        except (LessonError, ControlError, KafkaException) as exc:
            st.session_state[done_key] = (guess, None, str(exc))
done = st.session_state.get(done_key)
if done is not None:
    guessed, outcome, error = done
    right = lesson.choices[lesson.answer]
    if guessed == right:
        st.success(f"You predicted: {guessed}. Right.")
    else:
        st.info(f"You predicted: {guessed}. What happens: {right}.")
    st.markdown(lesson.why)
    if error is not None:
        st.error(f"The step did not complete: {error}")
    else:
        st.success(outcome.summary)
        show_facts(outcome.facts)

st.subheader("Watch")
st.page_link(
    f"views/{lesson.watch_page}.py",
    label=f"{lesson.watch} page",
    icon=":material/visibility:",
    query_params=lesson.watch_query,
)
