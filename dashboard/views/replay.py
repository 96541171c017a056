"""Crash before commit: a worker dies after publishing its results and before committing them;
another member reads its range again (at-least-once) and the totals still count each tweet once
(``dashboard.replay``)."""

from pathlib import Path

import pandas as pd
import streamlit as st

from chirpstream import workers
from chirpstream.controls import ControlError
from chirpstream.settings import ANALYTICS_GROUP
from consumers.crash import EXIT_CODE, SIGNAL_NAME, Crash, parse_crash_line
from dashboard import charts, replay, ui

st.title("Crash before commit")
st.caption(
    "A worker told to crash before commit (`chirpstream workers --crash-before-commit [N]`,"
    f" the button below, or `kill -{SIGNAL_NAME.removeprefix('SIG')} <pid>`: the pid ends its"
    " client id) dies at its next commit point, after its results are acknowledged and before"
    f" its offsets are committed (exit code {EXIT_CODE})."
)


def data_dir() -> Path:
    """``chirpstream up``'s data directory: where it keeps the dashboard's store."""
    return Path(ui.store_path()).parent


def logs_dir() -> Path:
    return data_dir() / "logs"


def crash_control() -> None:
    """The button: one of ``up``'s workers crashes before its next commit."""
    try:
        running = [w.index for w in workers.workers(data_dir())]
    except ControlError:
        st.caption(
            "No control: it acts only on the workers `chirpstream up` runs, and none is"
            f" recorded in `{data_dir()}`."
        )
        return
    chosen, button = st.columns([1, 2])
    index = chosen.selectbox("Worker", running, key="crash_worker")
    if button.button("Crash it before its next commit", disabled=index is None):
        try:
            workers.crash_before_commit(data_dir(), index)
            st.success(f"Worker {index} dies at its next commit point, its offsets uncommitted.")
        except ControlError as exc:
            st.error(str(exc))


crash_control()


@st.cache_data(max_entries=8, show_spinner=False)
def _crashes(logs: str, stamp: tuple[tuple[str, int, int], ...]) -> list[Crash]:
    return replay.crashes(Path(logs))


def found_crashes() -> list[Crash]:
    """The crash lines in the logs, read again only when a log changed."""
    logs = logs_dir()
    files = sorted(logs.glob("*.log")) if logs.is_dir() else []
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _crashes(str(logs), stamp)


@st.cache_data(max_entries=16, show_spinner=False)
def crash_ranges(path: str, crash: Crash, version: tuple[object, ...]) -> pd.DataFrame:
    """``replay.rereads`` of the store at ``version``: computed once per sample, not per viewer
    (the member and commit history since the crash is the page's largest read)."""
    store = ui.open_store(path)
    since = crash.at_ms - 5_000
    return replay.rereads(
        crash,
        store.member_samples(ANALYTICS_GROUP, since),
        store.lag_history(ANALYTICS_GROUP, since),
    )


pasted = st.text_input(
    "A worker's crash line (when the dashboard cannot read the workers' logs)", key="crash_line"
)


@st.fragment(run_every=ui.refresh_s())
def crash_page() -> None:
    store = ui.data()
    ui.banner(store)
    crash = parse_crash_line(pasted) if pasted else None
    if pasted and crash is None:
        st.error("That is not a worker's crash line: it starts `worker N (analytics-...)`.")
        return
    crashes = found_crashes()
    if crash is None and not crashes:
        st.info(f"No crash before commit yet (looked in `{logs_dir()}`).")
        return
    crash = crash or crashes[-1]
    since = crash.at_ms - 5_000
    ranges = crash_ranges(store.path, crash, store.version)
    totals = store.analytics_totals()
    counted = totals["tweets"] if totals else 0
    columns = st.columns(4)
    columns[0].metric("Crashed member", crash.client_id)
    columns[1].metric("Processed, not committed", f"{int(ranges['records'].sum()):,}")
    again = ranges[ranges["committed_past_ms"].notna()]
    by = sorted({str(m) for m in again["reread_by"].dropna()})
    columns[2].metric("Read again by", ", ".join(by) or "not yet")
    columns[3].metric("Tweets counted", f"{counted:,}")
    st.subheader("The offsets read twice")
    if len(ranges):
        charts.show(replay.picture(ranges))
    st.dataframe(ranges.drop(columns=["committed_past_ms"]), hide_index=True)
    st.subheader("Read twice, counted once")
    charts.show(replay.totals_picture(counted, replay.read_twice(ranges)))
    repeats = replay.repeated(ranges, store.repeats(since))
    st.caption(replay.why(ranges, repeats))
    if len(repeats):
        st.markdown("**Results published twice for these ranges, dropped by the fold**")
        st.dataframe(repeats.drop(columns=["ts_ms"]), hide_index=True)
    st.caption(
        "On any Kafka cluster the re-reader, the committed offsets and the totals come from what"
        " any client reads; the crash itself is known from the worker's line only: in"
        " `chirpstream up`'s logs, or pasted above."
    )


crash_page()
