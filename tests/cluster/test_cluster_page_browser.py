"""The Cluster page's broker controls in a real headless Chromium against a running 3-node
``chirpstream up`` (simulated ingest, one worker, the dashboard): Kill on the broker leading
``tweets-0``, confirmed once; the page shows that broker stopped, another leader for
``tweets-0`` in a higher epoch, and the timeline entry; then Restart, and the broker is back
in the ISR. Screenshots (and the timings measured) are saved in ``<tmp_path>/artifacts/``.

Asserted as the issue says: within 10 s of pressing Kill, whether or not the broker killed
was also the active controller (the cluster then elects a new quorum leader before it fences
the broker: 4.6-5.1 s from Kill to the new partition leader, against 2.5-3.9 s otherwise, in
runs at a load of 4-7 on two cores; the bundled broker.session.timeout.ms is 3 s). Measured
as the issue asks: from pressing Kill to the page showing the new leader, how much of that is
the cluster's own election (the first Metadata answer naming another leader, asked every
50 ms by a client of this test), and of the page's part, from the collector's sample
starting to the election stored (polled every 50 ms), and from stored to shown."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from playwright.sync_api import Locator, Page, sync_playwright

from dashboard.store import Store
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, free_port
from tests.e2e.test_up import Up
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster
VIEWPORT = {"width": 1400, "height": 1600}
SHOWN_WITHIN_S = 10.0  # the issue: within 10 s of pressing Kill the page shows it all


def partition_zero(admin: AdminClient) -> tuple[int, list[int]]:
    """(leader, ISR) of tweets-0 as the cluster's metadata says now."""
    part = admin.list_topics("tweets", timeout=5).topics["tweets"].partitions[0]
    return part.leader, list(part.isrs)


class FirstSeen(threading.Thread):
    """Asks ``seen()`` every 50 ms (an exception counts as no) for two minutes at most;
    ``at`` is when it first answered yes."""

    def __init__(self, seen: Callable[[], bool]) -> None:
        super().__init__(daemon=True)
        self.seen = seen
        self.at: float | None = None
        self.wall: float | None = None  # the same moment, as time.time()

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while self.at is None and time.monotonic() < deadline:
            try:
                if self.seen():
                    self.at, self.wall = time.monotonic(), time.time()
            except Exception:  # a broker just died: ask again
                pass
            time.sleep(0.05)


def button(page: Page, key: str) -> Locator:
    """The button Streamlit renders for widget ``key``: the first, as a fragment's rerun may
    show a second copy for a moment (either sends the same click)."""
    return page.locator(f".st-key-{key} button").first


def press(page: Page, key: str) -> None:
    """A click on it. Dispatched as a DOM event: on a machine this loaded the page reruns
    every second for longer than Playwright's wait for a "stable" element allows."""
    button(page, key).wait_for(timeout=30_000)
    button(page, key).dispatch_event("click")


def shown_in_tables(page: Page, pattern: str, timeout_s: float) -> str:
    """What first matches ``pattern`` (a JavaScript regular expression) in the text of the
    page's tables (the grids' accessible tables), once something does."""
    found = page.wait_for_function(
        """(pattern) => {
            const text = [...document.querySelectorAll('[data-testid="stDataFrame"]')]
                .map(t => t.textContent).join('\\n');
            const found = text.match(new RegExp(pattern));
            return found && found[0];
        }""",
        arg=pattern,
        polling=100,
        timeout=timeout_s * 1000,
    )
    return found.json_value()


def screenshot(page: Page, path: Path) -> None:
    """The whole page: Streamlit scrolls its main area inside the window, so the window is
    made as tall as that area while the picture is taken (the quorum and the timeline are
    below the first screen)."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({**VIEWPORT, "height": max(VIEWPORT["height"], height)})
    page.screenshot(path=path)
    page.set_viewport_size(VIEWPORT)


def tables_text(page: Page) -> str:
    return "\n".join(page.get_by_test_id("stDataFrame").all_text_contents())


def test_kill_and_restart_a_leader_from_the_cluster_page(tmp_path):
    assert CHROMIUM, "Debian's chromium is not installed: `make test` installs it"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    port = free_port()
    up = Up(tmp_path, "--rate", "50", "--workers", "1", "--broker-port", "0",
            "--dashboard-port", str(port))  # fmt: skip
    try:
        _, bootstrap = up.wait_until_up()
        admin = AdminClient({"bootstrap.servers": bootstrap})
        leader, isr = partition_zero(admin)
        assert leader >= 0 and len(isr) == 3, (leader, isr)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            try:
                page.goto(f"http://127.0.0.1:{port}/cluster?topic=tweets")
                button(page, f"broker-kill-{leader}").wait_for(timeout=60_000)
                page.get_by_text(f"broker {leader} · running").wait_for(timeout=30_000)
                screenshot(page, artifacts / "1-before.png")

                store = Store(tmp_path / "dashboard.sqlite")
                controller = store.cluster_brokers().set_index("node_id")["controller"][leader]
                elected = FirstSeen(lambda: partition_zero(admin)[0] not in (-1, leader))
                stored = FirstSeen(
                    lambda: (
                        store.events(topic="tweets")["text"]
                        .str.startswith(f"Leader of tweets-0: {leader} → ")
                        .any()
                    )
                )
                press(page, f"broker-kill-{leader}")
                page.get_by_text(f"Kill broker {leader}?").wait_for(timeout=10_000)
                press(page, "broker-confirm")
                pressed = time.monotonic()
                elected.start()
                stored.start()
                election = shown_in_tables(
                    page, rf"Leader of tweets-0: {leader} → \d+ \(epoch \d+ → \d+\)", 60
                )
                shown = time.monotonic()
                page.get_by_text(f"broker {leader} · stopped").wait_for(timeout=10_000)
                all_shown = time.monotonic()
                screenshot(page, artifacts / "2-killed.png")
                elected.join(10)
                stored.join(10)
                assert elected.at is not None, "the cluster never named another leader"
                assert stored.at is not None, "the collector never stored the election"
                # The bound, from pressing Kill, whether or not the broker killed was
                # the active controller too (then a new quorum leader comes first).
                assert all_shown - pressed <= SHOWN_WITHIN_S, {
                    "pressed_to_shown_s": all_shown - pressed,
                    "pressed_to_elected_s": elected.at - pressed,
                    "killed_the_controller": bool(controller),
                }

                new, before, after = map(
                    int, re.search(r"→ (\d+) \(epoch (\d+) → (\d+)", election).groups()
                )
                assert new != leader and after > before
                assert partition_zero(admin)[0] == new
                assert f"Broker {leader}: running → stopped" in tables_text(page)

                press(page, f"broker-restart-{leader}")
                press(page, "broker-confirm")
                eventually(lambda: leader in partition_zero(admin)[1],
                           f"broker {leader} back in the ISR of tweets-0", 90)  # fmt: skip
                shown_in_tables(
                    page, rf"ISR of tweets-0 expanded: \[[0-9,]*\] → \[[0-9,]*\b{leader}\b", 30
                )
                page.get_by_text(f"broker {leader} · running").wait_for(timeout=10_000)
                screenshot(page, artifacts / "3-restarted.png")
            finally:
                browser.close()
        assert up.stop(signal.SIGINT) == 0  # as Ctrl-C
    finally:
        up.kill()
    events = Store(tmp_path / "dashboard.sqlite").events()
    sampled = events[events["text"] == election]["ts_ms"].min() / 1000  # the sample's start
    timings = {
        "killed_the_controller": bool(controller),
        "pressed_to_shown_s": round(shown - pressed, 2),
        "pressed_to_all_shown_s": round(all_shown - pressed, 2),
        "pressed_to_elected_s": round(elected.at - pressed, 2),
        "page_after_election_s": round(shown - elected.at, 2),
        "sampled_to_stored_s": round(float(stored.wall - sampled), 2),
        "stored_to_shown_s": round(shown - stored.at, 2),
    }
    (artifacts / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"\nscreenshots and timings in {artifacts}/: {timings}")
