"""What every dashboard page shares: the store's data, the shared controls (built once, in
the entry file, kept in session state), the pickers and the cluster banner.

Pages read through ``data()``: every query is cached on the store's ``version()``, so however
many viewers (a class, each with a tab) rerun a page each second, a query runs once per
sample the collector writes; a rerun that finds nothing new reads nothing but the version."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from chirpstream.settings import DEFAULT_BOOTSTRAP
from dashboard.store import Store

STORE_ENV = "CHIRPSTREAM_DASHBOARD_STORE"
BOOTSTRAP_ENV = "CHIRPSTREAM_BOOTSTRAP_SERVERS"
CLIENT_CONFIG_ENV = "CHIRPSTREAM_CLIENT_CONFIG"  # JSON of the other client settings (SASL, TLS)
RUN_FILE_ENV = "CHIRPSTREAM_RUN_FILE"  # the bundled cluster's run.json, for the broker controls
PIPELINE_DIR_ENV = "CHIRPSTREAM_PIPELINE_DIR"  # `up`'s data dir, for the worker controls
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


@st.cache_data(max_entries=256, show_spinner=False)
def _query(path: str, name: str, args: tuple[Any, ...], version: tuple[Any, ...]) -> Any:
    return getattr(open_store(path), name)(*args)


class Data:
    """The store's read methods, cached on its version read when this was made."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.version = tuple(open_store(path).version())
        self.newest_ms = self.version[0] or int(time.time() * 1000)
        self.view_ms = self.version[-1] or self.newest_ms  # the newest view of the cluster

    def since_ms(self, minutes: float) -> int:
        """``minutes`` before the newest sample (the same for every viewer of a sample)."""
        return int(self.newest_ms - minutes * 60_000)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or not callable(getattr(Store, name, None)):
            raise AttributeError(name)
        return lambda *args: _query(self.path, name, args, self.version)


def data() -> Data:
    """The store's data as of now; call it at the start of each fragment run."""
    return Data(store_path())


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


def banner(store: Store | Data) -> None:
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
