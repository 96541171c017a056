"""The Lessons page under AppTest: every lesson's paragraph, question and button; the button
waits for an answer; the lessons that stop a broker or act on the workers say why they cannot
on a cluster ``chirpstream up`` did not start; and lesson 1's button, pressed against a real
broker, creates the lesson topic and tells the student whether the prediction was right."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from kafka.partitioner.default import murmur2 as kafka_murmur2
from streamlit.testing.v1 import AppTest

from dashboard.lessons import catalog, seeded
from dashboard.lessons.steps import covered_offsets
from dashboard.ui import BOOTSTRAP_ENV, RUN_FILE_ENV, STORE_ENV

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
VIEWS = APP.parent / "views"


@pytest.fixture
def lessons_page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "dashboard.sqlite"))
    monkeypatch.setenv(RUN_FILE_ENV, str(tmp_path / "cluster" / "run.json"))  # none there
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    app.switch_page("views/lessons.py").run()
    assert not app.exception, app.exception
    return app


def pick(app: AppTest, number: int) -> None:
    picker = app.selectbox(key="lesson-picker")
    picker.set_value(picker.options[number - 1]).run()
    assert not app.exception, app.exception


def test_every_lesson_has_its_paragraph_question_and_button(lessons_page):
    app = lessons_page
    assert len(app.selectbox(key="lesson-picker").options) == 10
    for lesson in catalog.LESSONS:
        pick(app, lesson.number)
        assert app.header[0].value == f"Lesson {lesson.number}: {lesson.title}"
        assert lesson.paragraph in [m.value for m in app.markdown]
        question = app.radio(key=f"lesson-{lesson.number}-guess")
        assert question.label == lesson.question
        assert list(question.options) == list(lesson.choices)
        assert question.value is None  # nothing picked for the student
        button = app.button(key=f"lesson-{lesson.number}-run")
        assert button.label == lesson.button
        assert button.disabled  # predict first
        assert (VIEWS / f"{lesson.watch_page}.py").exists(), lesson.watch_page


def test_answering_enables_the_button_except_where_it_cannot_act(lessons_page):
    app = lessons_page
    for lesson in catalog.LESSONS:
        pick(app, lesson.number)
        app.radio(key=f"lesson-{lesson.number}-guess").set_value(lesson.choices[0]).run()
        button = app.button(key=f"lesson-{lesson.number}-run")
        captions = " ".join(c.value for c in app.caption)
        if lesson.needs is None:
            assert not button.disabled, lesson.title
        else:  # no bundled cluster nor `up` recorded for this page
            assert button.disabled, lesson.title
            assert "acts only on" in captions or "only on those" in captions, captions


def test_the_keys_lesson_predicts_what_the_java_client_computes():
    lesson = catalog.lesson(2)
    alice = (kafka_murmur2(catalog.KEY.encode()) & 0x7FFFFFFF) % seeded.PARTITIONS
    assert lesson.choices[lesson.answer] == f"All on partition {alice}"
    for key, _ in seeded.MESSAGES:
        assert seeded.predicted_partition(key) == (
            (kafka_murmur2(key.encode()) & 0x7FFFFFFF) % seeded.PARTITIONS
        )


def test_the_burst_is_the_same_every_run():
    assert seeded.burst() == seeded.burst()
    assert len(seeded.burst()) == seeded.BURST


def test_lesson_one_creates_the_topic_and_marks_the_prediction(broker, monkeypatch, tmp_path):
    monkeypatch.setenv(BOOTSTRAP_ENV, broker.bootstrap)
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "dashboard.sqlite"))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    app.switch_page("views/lessons.py").run()
    lesson = catalog.lesson(1)
    wrong = lesson.choices[0]
    app.radio(key="lesson-1-guess").set_value(wrong).run()
    app.button(key="lesson-1-run").click().run()
    assert not app.exception, app.exception
    assert f"You predicted: {wrong}. What happens: {lesson.choices[lesson.answer]}." in [
        i.value for i in app.info
    ]
    assert any("created: 3 partitions, replication factor 1" in s.value for s in app.success)
    figures = app.table[0].value["value"]  # the figures the step saw
    assert figures["partitions"] == "3" and figures["replication_factor"] == "1", figures
    topic = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert len(topic.topics[seeded.TOPIC].partitions) == seeded.PARTITIONS


def test_the_offsets_results_cover_are_counted_once():
    # (source partition, first offset, last offset): a repeat, a longer result for the same
    # run, a partial inside a longer one, and the same offsets of another partition.
    spans = [(0, 0, 4), (0, 0, 4), (0, 0, 9), (0, 5, 9), (0, 10, 14), (1, 0, 2), (1, 1, 5)]
    assert covered_offsets(spans) == 15 + 6
    assert covered_offsets([]) == 0
