"""Crash before commit: a worker dies after publishing its results and before committing them;
another member reads its range again (at-least-once) and the totals still count each tweet once
(``dashboard.replay``)."""

import os
from pathlib import Path

import streamlit as st

from chirpstream.settings import ANALYTICS_GROUP
from consumers.crash import EXIT_CODE, SIGNAL_NAME, Crash, parse_crash_line
from dashboard import charts, replay, ui

st.title("Crash before commit")
st.caption(
    f"Send a worker `{SIGNAL_NAME}` (`kill -USR1 <pid>`: the pid ends its client id): it dies"
    " at its next commit point, after its results are acknowledged and before its offsets are"
    f" committed, exit code {EXIT_CODE}."
)


def logs_dir() -> Path:
    """The bundled pipeline's service logs: ``logs/`` next to its run file."""
    return Path(os.environ.get(ui.RUN_FILE_ENV, "data/run.json")).parent / "logs"


@st.cache_data(max_entries=8, show_spinner=False)
def _crashes(logs: str, stamp: tuple[tuple[str, int, int], ...]) -> list[Crash]:
    return replay.crashes(Path(logs))


def found_crashes() -> list[Crash]:
    """The crash lines in the logs, read again only when a log changed."""
    logs = logs_dir()
    files = sorted(logs.glob("*.log")) if logs.is_dir() else []
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _crashes(str(logs), stamp)


pasted = st.text_input(
    "A worker's crash line (when the dashboard cannot read the workers' logs)", key="crash_line"
)


@st.fragment(run_every=ui.refresh_s())
def crash_page() -> None:
    store = ui.data()
    ui.banner(store)
    crashes = found_crashes()
    if pasted and (line := parse_crash_line(pasted)) is not None:
        crashes.append(line)
    if not crashes:
        st.info(f"No crash before commit yet (looked in `{logs_dir()}`).")
        return
    crash = crashes[-1]
    since = crash.at_ms - 5_000
    ranges = replay.rereads(
        crash,
        store.member_history(ANALYTICS_GROUP, since),
        store.lag_history(ANALYTICS_GROUP, since),
    )
    totals = store.analytics_totals()
    counted = totals["tweets"] if totals else 0
    columns = st.columns(4)
    columns[0].metric("Crashed member", crash.client_id)
    columns[1].metric("Processed, not committed", f"{int(ranges['records'].sum()):,}")
    by = sorted({str(m) for m in ranges["reread_by"].dropna()})
    columns[2].metric("Read again by", ", ".join(by) or "not yet")
    columns[3].metric("Tweets counted", f"{counted:,}")
    st.subheader("The offsets read twice")
    if len(ranges):
        charts.show(replay.picture(ranges))
    st.dataframe(ranges.drop(columns=["committed_past_ms"]), hide_index=True)
    st.subheader("Read twice, counted once")
    charts.show(replay.totals_picture(counted, replay.read_twice(ranges)))
    st.caption(replay.why(ranges, totals["duplicates"] if totals else 0))


crash_page()
