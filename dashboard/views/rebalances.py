"""Rebalances on a stage: a group's generations on a timeline (who owned which partition, and
how long each partition had no owner while the group rebalanced), the controls that add or
remove an analytics worker of the pipeline ``chirpstream up`` runs, and the same scene with
the eager and the cooperative assignor side by side (``dashboard.rebalance``,
``dashboard.rebalance_scene``)."""

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from chirpstream import workers
from chirpstream.controls import ControlError
from chirpstream.settings import ANALYTICS_GROUP, TWEETS_PARTITIONS, TWEETS_TOPIC
from dashboard import charts, rebalance, rebalance_scene, ui

SCENE = "rebalance_scene"  # session state: the last scene's results, as JSON, by assignor
WINDOWS_MIN = (2, 5, 10, 30, 60, 120)

st.title("Rebalances on a stage")


def pipeline_dir() -> Path:
    return Path(os.environ.get(ui.PIPELINE_DIR_ENV, str(workers.DEFAULT_DATA_DIR)))


def running_workers() -> tuple[list[workers.WorkerRecord] | None, str]:
    """The workers of the pipeline this dashboard belongs to, or None and why not."""
    try:
        return workers.workers(pipeline_dir()), ""
    except ControlError as exc:
        return None, str(exc)


def clock(ms: pd.Series) -> pd.Series:
    return pd.to_datetime(ms, unit="ms").dt.strftime("%H:%M:%S")


def group_topic(members: pd.DataFrame) -> str:
    """The topic most of the group's assignment names (``tweets`` when none)."""
    topics = members["assignment"].fillna("").str.split(",").explode().str.rpartition(":")[0]
    topics = topics[topics != ""]
    return str(topics.mode().iloc[0]) if len(topics) else TWEETS_TOPIC


@st.fragment(run_every=ui.refresh_s())
def group_timeline() -> None:
    store = ui.data()
    ui.banner(store)
    groups = store.groups()
    names = list(groups["group_id"]) if len(groups) else []
    group = ui.pick("Group", names, "rebalance_group", ANALYTICS_GROUP)
    if group is None:
        st.info("No consumer groups yet.")
        return
    minutes = st.select_slider("Window (minutes)", WINDOWS_MIN, value=5, key="rebalance_window")
    since = store.since_ms(minutes)
    history = store.group_history(group, since)
    members = store.member_history(group, since)
    topic = group_topic(members)
    partitions = range(len(store.partition_table(topic)) or TWEETS_PARTITIONS)
    owners = rebalance.ownership_from_samples(history, members, topic, partitions)
    span_rows = rebalance.spans(owners)
    cooperative = rebalance.is_cooperative(history["assignor"])
    protocol = "cooperative" if cooperative else "eager"
    if not span_rows.empty:
        charts.show(rebalance.timeline(span_rows, f"{group} on {topic}: owner of each partition"))
    st.caption(
        f"One sample a second (the collector's beat), so each stretch is exact to a second. "
        f"While the group rebalances Kafka shows no assignment; this group's protocol is "
        f"{protocol}: "
        + (
            "its members keep what they own through a rebalance and give up only what moves, "
            "so a partition is without an owner from the sample that shows it unassigned."
            if cooperative
            else "every member gives up every partition when it rejoins, so every partition "
            "is without an owner until the group is Stable again."
        )
    )
    st.subheader("Generations")
    table = rebalance.generations(history, members)
    st.dataframe(
        table.assign(from_ms=clock(table["from_ms"]), to_ms=clock(table["to_ms"])).rename(
            columns={"from_ms": "first seen", "to_ms": "last seen"}
        ),
        hide_index=True,
    )
    st.subheader("Partitions without an owner")
    gaps = rebalance.unowned(span_rows)
    if gaps.empty:
        st.caption("No partition lost its owner in this window.")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "partition": gaps["partition"],
                    "from": clock(gaps["start_ms"]),
                    "seconds": gaps["unowned_ms"] / 1000,
                    "over": gaps["ended"].map({True: "yes", False: "not yet"}),
                }
            ),
            hide_index=True,
        )


def worker_controls() -> None:
    st.subheader("Add or remove a worker")
    running, why = running_workers()
    if running is None:
        st.caption(
            "The worker controls act only on the workers `chirpstream up` started, and this "
            f"dashboard runs without one: {why}."
        )
        return
    st.caption(
        f"{len(running)} analytics workers run: "
        + ", ".join(f"worker {w.index} (pid {w.pid})" for w in running)
        + ". A worker added joins the group; a worker removed commits and leaves it."
    )
    add, pick, remove = st.columns([1, 1, 1])
    try:
        if add.button("Add a worker", key="add_worker"):
            workers.add_worker(pipeline_dir())
            st.toast("One more worker asked of chirpstream up.")
        indexes = [w.index for w in running]
        chosen = pick.selectbox("Worker", indexes, index=len(indexes) - 1 if indexes else None)
        if remove.button("Remove it", key="remove_worker", disabled=not indexes):
            st.toast(f"Worker {workers.remove_worker(pipeline_dir(), chosen)} is leaving.")
    except ControlError as exc:
        st.error(str(exc))


def scene() -> None:
    st.subheader("The same scene: eager (range) and cooperative-sticky")
    st.caption(
        "Two groups of real consumers on tweets, one per assignor: two members, a third "
        "joins, the second leaves. Each member reports its own assign and revoke callbacks, so "
        "these timelines are exact to the millisecond."
    )
    running, why = running_workers()
    if running is None:
        st.caption(f"The scene runs only on the pipeline `chirpstream up` started: {why}.")
    elif st.button("Run the scene (about half a minute)", key="run_scene"):
        with st.spinner("Playing the scene in both groups..."):
            try:
                results = rebalance_scene.run(ui.bootstrap(), ui.client_config())
            except (TimeoutError, OSError) as exc:
                st.error(f"The scene did not finish: {exc}")
                return
        st.session_state[SCENE] = {a: r.to_json() for a, r in results.items()}
    played = st.session_state.get(SCENE)
    if not played:
        return
    columns = st.columns(len(played))
    for column, (assignor, raw) in zip(columns, played.items(), strict=True):
        result = rebalance_scene.SceneResult.from_json(raw)
        span_rows = rebalance.ownership_from_callbacks(
            result.callbacks, range(TWEETS_PARTITIONS), result.end_ms
        )
        gaps = rebalance.unowned(span_rows)
        with column:
            charts.show(rebalance.timeline(span_rows, assignor))
            per_partition = gaps.groupby("partition")["unowned_ms"].agg(["count", "sum"])
            st.metric("Partitions stopped", f"{len(per_partition)} of {TWEETS_PARTITIONS}")
            st.dataframe(
                pd.DataFrame(
                    {
                        "partition": per_partition.index,
                        "stops": per_partition["count"].to_numpy(),
                        "unowned ms": per_partition["sum"].to_numpy(),
                    }
                ),
                hide_index=True,
                key=f"scene_{assignor}",
            )


group_timeline()
worker_controls()
scene()
