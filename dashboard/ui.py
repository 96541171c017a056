"""What every dashboard page shares: the store, the shared controls (built once, in the
entry file, kept in session state), the pickers, the cluster banner and time windows."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from chirpstream.settings import DEFAULT_BOOTSTRAP
from dashboard.store import Store

STORE_ENV = "CHIRPSTREAM_DASHBOARD_STORE"
BOOTSTRAP_ENV = "CHIRPSTREAM_BOOTSTRAP_SERVERS"
CLIENT_CONFIG_ENV = "CHIRPSTREAM_CLIENT_CONFIG"  # JSON of the other client settings (SASL, TLS)
DEFAULT_STORE = Path("data/dashboard.sqlite")
STALE_AFTER_S = 5.0
REFRESH_CHOICES = (1, 2, 5, 10, 30)


@st.cache_resource
def open_store(path: str) -> Store:
    return Store(Path(path))


def store_path() -> str:
    return os.environ.get(STORE_ENV, str(DEFAULT_STORE))


def store() -> Store:
    return open_store(store_path())


def shared_controls() -> None:
    """The sidebar every page shares, built by the entry file on every run so a choice
    survives a page switch: bootstrap servers (for the Produce page), refresh interval."""
    st.session_state.setdefault("bootstrap", os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP))
    st.session_state.setdefault("refresh", REFRESH_CHOICES[0])
    st.sidebar.text_input("Bootstrap servers", key="bootstrap")
    st.sidebar.select_slider("Refresh every (s)", REFRESH_CHOICES, key="refresh")
    st.sidebar.caption(f"Store: `{store_path()}`")


def bootstrap() -> str:
    return st.session_state.get("bootstrap") or os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP)


def refresh_s() -> float:
    return float(st.session_state.get("refresh", REFRESH_CHOICES[0]))


def pick(label: str, options: Sequence[str], param: str, preferred: str) -> str | None:
    """A picker whose choice is kept in session state and in the URL's query parameter
    ``param`` (a shareable link); call it inside a page's fragment so new options appear
    live. Starts on the link's choice, else ``preferred``, else the first option."""
    options = list(options)
    if not options:
        return None
    chosen = st.session_state.get(param) or st.query_params.get(param)
    if chosen not in options:
        chosen = preferred if preferred in options else options[0]
    chosen = st.selectbox(label, options, index=options.index(chosen))
    st.session_state[param] = chosen
    if st.query_params.get(param) != chosen:
        st.query_params[param] = chosen
    return chosen


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
