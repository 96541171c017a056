"""The Cluster page's broker controls: Stop, Kill, Pause (Resume) and Restart per broker of
the bundled cluster, each asking for confirmation once, acting through the same code as
``chirpstream brokers --kill ID`` (``chirpstream.controls``).

They are there only while the run file the dashboard was given (``chirpstream dashboard
--run-file``, which ``chirpstream up`` passes) belongs to a running ``chirpstream cluster``
whose nodes are the brokers shown; on any other cluster a line says why they are absent.
The run file also tells the page what the wire cannot: a broker whose process is paused or
gone is shown paused or stopped at once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from chirpstream import controls, run_file
from chirpstream.run_file import RunRecord
from dashboard.ui import RUN_FILE_ENV

# What each button does, as its help says; the order of the buttons.
ACTIONS = {
    "stop": "SIGTERM: a controlled shutdown, its leaderships moved first",
    "kill": "SIGKILL: a crash, nothing handed over",
    "pause": "SIGSTOP: a hung broker, connected but answering nothing",
    "resume": "SIGCONT: the paused broker carries on",
    "restart": "stop it if it runs, then start it again (the cluster's supervisor does)",
}
WAIT_S = {"kill": 2.0, "pause": 2.0}  # quick to happen; a stop or restart is not waited for
PENDING = "broker_control_pending"  # session state: (action, node id) awaiting confirmation
DONE = "broker_control_done"  # session state: (ok, message) of the last action
ACTED_AT = "broker_control_at"  # session state: when (time.monotonic()) it was taken


def run_file_path() -> Path:
    return Path(os.environ.get(RUN_FILE_ENV, str(controls.DEFAULT_DATA_DIR / run_file.RUN_FILE)))


def bundled_cluster(brokers: pd.DataFrame) -> RunRecord | None:
    """The live run file, when the brokers shown are its nodes."""
    record = run_file.live(run_file_path())
    if record is None or brokers.empty:
        return None
    shown = ",".join(f"{b.host}:{b.port}" for b in brokers.itertuples())
    return record if record.serves(shown) else None


def with_process_states(brokers: pd.DataFrame, record: RunRecord | None) -> pd.DataFrame:
    """``brokers`` with a ``pid`` column, and the state of each node whose process is paused
    or gone as the process says it (the wire may still show it running); a gone process is
    no controller."""
    if record is None:
        return brokers
    states, pids, gone = [], [], []
    for node_id, state in zip(brokers["node_id"], brokers["state"], strict=True):
        node = record.node(int(node_id))
        process_state = None if node is None else controls.node_state(node)
        states.append(state if process_state in (None, "running") else process_state)
        pids.append(node.pid if node is not None and process_state != "stopped" else None)
        gone.append(process_state == "stopped")
    return brokers.assign(
        state=states,
        pid=pd.array(pids, dtype="Int64"),
        controller=brokers["controller"] & ~pd.Series(gone, index=brokers.index),
    )


def show(brokers: pd.DataFrame, record: RunRecord | None) -> None:
    """The controls (or the line saying why there are none), and the last action's result."""
    st.subheader("Broker controls")
    if record is None:
        st.caption(
            "No controls: they act only on the cluster `chirpstream up` or `chirpstream "
            f"cluster` started on this machine, and no running one is recorded in "
            f"`{run_file_path()}` for these brokers."
        )
        return
    done = st.session_state.get(DONE)
    if done is not None:
        ok, message = done
        (st.success if ok else st.error)(message)
    pending = st.session_state.get(PENDING)
    if pending is not None:
        _confirm(Path(record.data_dir), *pending)
    for broker in brokers.itertuples():
        node_id, state = int(broker.node_id), str(broker.state)
        name, *buttons = st.columns([2, 1, 1, 1, 1])
        name.markdown(f"**broker {node_id}** · {state}")
        pause = "resume" if state == "paused" else "pause"
        for column, action in zip(buttons, ("stop", "kill", pause, "restart"), strict=True):
            if column.button(
                action.capitalize(),
                key=f"broker-{action}-{node_id}",
                help=ACTIONS[action],
                disabled=action != "restart" and state == "stopped",
                width="stretch",
            ):
                st.session_state[PENDING] = (action, node_id)
                st.rerun()


def _confirm(data_dir: Path, action: str, node_id: int) -> None:
    st.warning(f"{action.capitalize()} broker {node_id}? ({ACTIONS[action]})")
    confirm, cancel, _ = st.columns([1, 1, 4])
    if confirm.button(f"Yes, {action} broker {node_id}", key="broker-confirm", type="primary"):
        del st.session_state[PENDING]
        st.session_state[ACTED_AT] = time.monotonic()
        try:
            message = controls.act(data_dir, action, node_id, WAIT_S.get(action, 0.0))
            st.session_state[DONE] = (True, message)
        except controls.ControlError as exc:
            st.session_state[DONE] = (False, str(exc))
        st.rerun()
    if cancel.button("Cancel", key="broker-cancel"):
        del st.session_state[PENDING]
        st.rerun()
