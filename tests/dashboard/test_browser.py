"""The running dashboard in a real headless Chromium (Debian's), with a live pipeline behind
it: broker, simulated ingest, one analytics worker, the collector and Streamlit. Playwright
drives the browser; it never downloads one (``executable_path`` is Debian's chromium).
A screenshot of each page is saved in the test's tmp folder."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.broker_process import ROOT
from tests.support.commands import service

CHROMIUM = shutil.which("chromium")
# As root, in a sandbox with no network but loopback (see the env notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def pipeline(broker, tmp_path):
    """Ingest at 200 tweets/s, one worker and the dashboard; yields the dashboard's URL."""
    port = free_port()
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("ingest", "worker", "ui")}
    processes = [
        subprocess.Popen(
            service("ingest", broker.bootstrap, "--rate", "200", "--seed", "9"),
            cwd=ROOT,
            stdout=logs["ingest"],
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            service("consumers.worker", broker.bootstrap),
            cwd=ROOT,
            stdout=logs["worker"],
            stderr=subprocess.STDOUT,
        ),
    ]
    dashboard = subprocess.Popen(
        service(
            "dashboard",
            broker.bootstrap,
            "--port",
            str(port),
            "--store",
            str(tmp_path / "dashboard.sqlite"),
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=logs["ui"],
        text=True,
    )
    processes.append(dashboard)
    try:
        for line in dashboard.stdout:  # the collector's READY line comes first
            if line.startswith("READY dashboard"):
                break
        else:
            raise AssertionError((tmp_path / "ui.log").read_text())
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        for log in logs.values():
            log.close()


def offered(page: Page, option: str) -> bool:
    """Open the page's first picker and say whether ``option`` is among its choices."""
    page.get_by_test_id("stSelectbox").first.click()
    try:
        page.get_by_role("option", name=option).wait_for(timeout=2_000)
        return True
    except PlaywrightTimeout:
        return False
    finally:
        page.keyboard.press("Escape")


def test_the_dashboard_shows_live_throughput_and_partitions(pipeline, broker, tmp_path):
    assert CHROMIUM, "Debian's chromium is not installed: `make test` installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        try:
            # A deep link is the first page this fresh dashboard serves: our menu, not
            # Streamlit's file-based one, and no developer toolbar.
            page.goto(f"{pipeline}/partitions?topic=tweets")
            page.get_by_text("The hot partition is").wait_for(timeout=60_000)
            menu = page.get_by_test_id("stSidebarNav").inner_text()
            assert "Consumer groups" in menu and "Live tail" in menu
            assert not {"app", "analytics", "overview"} & set(menu.split()), menu
            assert page.get_by_text("Deploy", exact=True).count() == 0
            # A topic created while the page is open appears in the picker without a switch.
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            admin.create_topics([NewTopic("late-topic", 2)])["late-topic"].result(15)
            deadline = time.monotonic() + 60
            while not offered(page, "late-topic"):
                assert time.monotonic() < deadline, "the new topic never showed in the picker"
            page.screenshot(path=tmp_path / "late-topic.png")

            page.goto(pipeline)
            rate = page.get_by_test_id("stMetric").filter(has_text="Messages in /s")
            # Wait for a second sample with tweets flowing: a non-zero rate.
            page.wait_for_function(
                """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                       .some(m => m.innerText.includes('Messages in /s')
                                  && /[1-9]/.test(m.innerText.split('\\n').pop()))""",
                timeout=60_000,
            )
            shown = rate.inner_text().splitlines()[-1]
            assert int(re.sub(r"[^0-9]", "", shown)) > 0
            page.get_by_text("Messages in per second, by topic").wait_for()
            # The charts are drawn: Vega renders each as SVG, a data series as a mark path.
            line = page.get_by_test_id("stVegaLiteChart").first.locator("g.role-mark path")
            line.first.wait_for(timeout=60_000)
            assert "L" in (line.first.get_attribute("d") or "")  # a line, not a lone point
            page.screenshot(path=tmp_path / "overview.png", full_page=True)

            page.goto(f"{pipeline}/partitions")
            page.get_by_text("The hot partition is").wait_for(timeout=60_000)
            # The grid draws on a canvas; its accessible table carries the cells.
            grid = page.get_by_test_id("stDataFrame").first.locator("[aria-rowcount]")
            assert grid.get_attribute("aria-rowcount") == "7"  # a header and 6 partitions
            cells = grid.text_content()
            assert "high_watermark" in cells and "leader" in cells and "isr" in cells
            page.screenshot(path=tmp_path / "partitions.png", full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "overview.png").stat().st_size > 10_000


@pytest.fixture
def gappy_dashboard(tmp_path):
    """Streamlit alone over a store whose samples stop for 30 s: yields the URL."""
    from dashboard.store import Store
    from dashboard.ui import STORE_ENV
    from tests.dashboard.test_pages import AFTER, COMMITTED, sample

    path = tmp_path / "dashboard.sqlite"
    store = Store(path)
    now = time.time_ns() // 1_000_000
    for second in [*range(60, 40, -1), *range(10, -1, -1)]:  # nothing from 40 s to 10 s ago
        grown = {p: AFTER[p] + 10 * (60 - second) for p in AFTER}
        store.write_sample(sample(now - second * 1000, grown, COMMITTED))
    store.close()
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    streamlit = subprocess.Popen(
        [
            *(sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py")),
            *("--server.address", "127.0.0.1", "--server.port", str(port)),
            *("--server.headless", "true", "--browser.gatherUsageStats", "false"),
        ],
        cwd=ROOT,
        env={**os.environ, STORE_ENV: str(path)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        streamlit.terminate()
        streamlit.wait(30)
        log.close()


def test_a_gap_in_the_samples_is_a_gap_in_the_drawn_line(gappy_dashboard):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        try:
            deadline = time.monotonic() + 60
            while True:  # Streamlit takes a moment to listen
                try:
                    page.goto(f"{gappy_dashboard}/groups")
                    break
                except PlaywrightError:
                    assert time.monotonic() < deadline
                    time.sleep(0.5)
            paths = page.get_by_test_id("stVegaLiteChart").last.locator("g.role-mark path")
            paths.first.wait_for(timeout=60_000)
            # Each partition's lag is one line in two pieces: a path with two "move to"s. The
            # page draws its charts one after another, so the last chart may not be the lag
            # chart yet on the first look: look again until it is, for up to 60 s.
            deadline = time.monotonic() + 60
            while True:
                drawn = [paths.nth(i).get_attribute("d") or "" for i in range(paths.count())]
                if len(drawn) == 6 and all(d.count("M") == 2 for d in drawn):
                    break
                assert time.monotonic() < deadline, drawn
                time.sleep(0.5)
        finally:
            browser.close()
