"""What every dashboard page shares: settings, the store, the cluster banner, time windows."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from chirpstream.settings import DEFAULT_BOOTSTRAP
from dashboard.store import Store

STORE_ENV = "CHIRPSTREAM_DASHBOARD_STORE"
BOOTSTRAP_ENV = "CHIRPSTREAM_BOOTSTRAP_SERVERS"
CLIENT_CONFIG_ENV = "CHIRPSTREAM_CLIENT_CONFIG"  # JSON of the other client settings (SASL, TLS)
DEFAULT_STORE = Path("data/dashboard.sqlite")
STALE_AFTER_S = 5.0


@st.cache_resource
def open_store(path: str) -> Store:
    return Store(Path(path))


def settings() -> tuple[Store, str, float]:
    """The sidebar: bootstrap servers (for the Produce page) and the refresh interval."""
    store_path = os.environ.get(STORE_ENV, str(DEFAULT_STORE))
    bootstrap = st.sidebar.text_input(
        "Bootstrap servers", os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP), key="bootstrap"
    )
    refresh = st.sidebar.select_slider(
        "Refresh every (s)", [1, 2, 5, 10, 30], value=1, key="refresh"
    )
    st.sidebar.caption(f"Store: `{store_path}`")
    return open_store(store_path), bootstrap, float(refresh)


def client_config() -> dict[str, str]:
    """The client settings `chirpstream dashboard` was given besides the bootstrap servers."""
    return json.loads(os.environ.get(CLIENT_CONFIG_ENV, "{}"))


def banner(store: Store) -> None:
    """A clear message when the collector cannot reach the cluster or has stopped."""
    status = store.status()
    last = status["last_ok_ms"]
    if status["ok"] is None:
        st.info("Waiting for the first sample from the collector (`chirpstream dashboard`).")
    elif not status["ok"]:
        st.error(
            f"Cannot reach the Kafka cluster: {status['message']}. Showing the last data "
            "seen; this page recovers by itself when the cluster is back."
        )
    elif last is not None and time.time() - last / 1000 > STALE_AFTER_S:
        st.warning(
            f"The newest sample is {time.time() - last / 1000:.0f} s old: is the collector running?"
        )


def since_ms(minutes: float) -> int:
    return int((time.time() - minutes * 60) * 1000)


def with_time(frame: pd.DataFrame, column: str = "ts_ms") -> pd.DataFrame:
    """A copy of ``frame`` with its epoch-millisecond column as datetimes, for charts."""
    frame = frame.copy()
    frame["time"] = pd.to_datetime(frame[column], unit="ms")
    return frame
