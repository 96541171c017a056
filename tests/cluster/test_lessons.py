"""Lesson mode against a running 3-node ``chirpstream up`` (simulated ingest, one worker, the
dashboard): every lesson's button, in order, each effect asserted on the cluster itself.

Lessons 1, 3 and 8 are walked in a real headless Chromium on the Lessons page (the question
answered, then the button pressed), with a screenshot of each in ``<tmp_path>/artifacts/``;
the others call the step their button calls (``catalog.lesson(n).step``), with the run file
and data directory the page would find. The seconds each lesson took are saved there too.

Lesson 10 waits for the crashed worker's session to time out (10 s for `up`'s workers) before
another member reads its range again: most of this test's time."""

from __future__ import annotations

import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource
from playwright.sync_api import Page, sync_playwright

from chirpstream import run_file
from dashboard.lessons import catalog, seeded
from dashboard.lessons.steps import Classroom
from tests.cluster.test_cluster_page_browser import VIEWPORT, press, screenshot
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, free_port
from tests.e2e.test_up import Up
from tests.support.group_reads import described_group

pytestmark = pytest.mark.cluster


def walk(page: Page, url: str, number: int, artifacts: Path, took: dict[int, float]) -> str:
    """Open lesson ``number``, answer its question right, press its button; the result line.
    ``took[number]``: seconds from the press to the result shown."""
    lesson = catalog.lesson(number)
    page.goto(f"{url}/lessons?lesson={number}")
    try:
        # The first page a fresh dashboard serves imports everything: slow on a loaded machine.
        page.get_by_text(f"Lesson {number}: {lesson.title}").wait_for(timeout=120_000)
        page.get_by_text(lesson.choices[lesson.answer], exact=True).click()
        # Enabled once the rerun the answer starts has drawn it so.
        page.locator(f".st-key-lesson-{number}-run button:enabled").first.wait_for(timeout=30_000)
        press(page, f"lesson-{number}-run")
        pressed = time.monotonic()
        result = page.get_by_test_id("stAlertContentSuccess").filter(has_not_text="You predicted")
        result.wait_for(timeout=90_000)
        took[number] = round(time.monotonic() - pressed, 1)
        return result.inner_text()
    finally:  # what the page shows, done or not
        screenshot(page, artifacts / f"lesson-{number}.png")


def step(number: int, room: Classroom, took: dict[int, float]) -> dict[str, Any]:
    """What lesson ``number``'s button does, in a thread of its own as the page's script
    runs: Playwright's synchronous API keeps an event loop running in this one, and the
    cluster probe runs its own. ``took[number]``: the seconds it took."""
    started = time.monotonic()
    with ThreadPoolExecutor(1) as thread:
        facts = thread.submit(catalog.lesson(number).step, room).result().facts
    took[number] = round(time.monotonic() - started, 1)
    return facts


def members(bootstrap: str) -> dict[str, list[int]]:
    """Each analytics worker and the tweets partitions it owns."""
    group = described_group(bootstrap, "analytics")
    return {m.client_id: sorted(p for _, p in m.assignment) for m in group.members}


def committed(bootstrap: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": seeded.GROUP})
    try:
        asked = [TopicPartition(seeded.TOPIC, p) for p in range(seeded.PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(asked, timeout=10)}
    finally:
        consumer.close()


def tweets_zero(admin: AdminClient) -> tuple[int, list[int]]:
    part = admin.list_topics(timeout=10).topics["tweets"].partitions[0]
    return part.leader, list(part.isrs)


def test_every_lesson_on_a_three_node_up(tmp_path):
    assert CHROMIUM, "Debian's chromium is not installed: `make test` installs it"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    port = free_port()
    up = Up(tmp_path, "--rate", "50", "--workers", "1", "--broker-port", "0",
            "--dashboard-port", str(port))  # fmt: skip
    try:
        _, bootstrap = up.wait_until_up()
        record = run_file.live(tmp_path / "cluster" / run_file.RUN_FILE)
        assert record is not None
        room = Classroom(bootstrap, {}, record, up_dir=tmp_path)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        url = f"http://127.0.0.1:{port}"
        took: dict[int, float] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            try:
                shown = walk(page, url, 1, artifacts, took)
                assert "created: 3 partitions, replication factor 3" in shown
                topic = admin.list_topics(timeout=10).topics[seeded.TOPIC]
                assert len(topic.partitions) == seeded.PARTITIONS

                rows = step(2, room, took)["rows"]
                assert [(r["key"], r["text"]) for r in rows] == list(seeded.MESSAGES)
                for row in rows:
                    assert row["partition"] == seeded.predicted_partition(row["key"]), row
                alice = [r["offset"] for r in rows if r["key"] == "alice"]
                assert alice == sorted(alice)  # one partition: in the order sent

                shown = walk(page, url, 3, artifacts, took)
                assert "'analytics' went from 1 to 2 members" in shown, shown
                owners = members(bootstrap)
                assert len(owners) == 2 and all(owners.values()), owners
                assert sorted(p for mine in owners.values() for p in mine) == list(range(6))

                facts = step(4, room, took)
                assert facts["lag"] == seeded.BURST
                assert sum(facts["lag_before"].values()) == 0

                facts = step(5, room, took)
                assert committed(bootstrap) == facts["log_start"] == {0: 0, 1: 0, 2: 0}
                assert sum(facts["lag"].values()) == seeded.BURST + len(seeded.MESSAGES)

                facts = step(6, room, took)
                assert all(low == high > 0 for low, high in facts["after"].values())
                resource = ConfigResource("TOPIC", seeded.TOPIC)
                retention = admin.describe_configs([resource])[resource].result(10)["retention.ms"]
                assert retention.is_default, retention  # set back after the segments went

                facts = step(7, room, took)
                assert facts["killed"] not in facts["isr_after"]
                assert facts["killed"] != facts["leader"]
                assert tweets_zero(admin)[0] == facts["leader"]

                shown = walk(page, url, 8, artifacts, took)
                found = re.search(r"broker (\d+) killed: .* broker (\d+)", shown)
                killed, led = int(found[1]), int(found[2])
                assert led != killed
                assert tweets_zero(admin)[0] == led

                facts = step(9, room, took)
                assert facts["controller_after"] != facts["controller_before"]
                assert facts["epoch_after"] > facts["epoch_before"]

                facts = step(10, room, took)
                assert facts["uncommitted"], facts  # the range the crash left
                assert facts["duplicates_dropped"] >= 1 and facts["overlaps"] == 0, facts
                assert facts["records_counted"] == facts["offsets_covered"], facts
            finally:
                browser.close()
        assert up.stop(signal.SIGINT) == 0  # as Ctrl-C
    finally:
        up.kill()
    (artifacts / "timings.json").write_text(json.dumps(took, indent=2) + "\n")
    print(f"\nscreenshots and seconds per lesson in {artifacts}/: {took}")
