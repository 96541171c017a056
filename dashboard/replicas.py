"""The Cluster page's picture and counters, from the store's latest sample.

- ``cells``: one row per replica of a topic: the broker it is on, and its role, as Kafka's
  metadata tells it: the ``leader``; an ``in-sync`` follower (in the ISR); an ``out-of-sync``
  follower (alive, not in the ISR); ``offline`` (Kafka lists it in ``offline_replicas``: its
  broker is fenced or gone, or the collector sees the broker stopped or paused).
- ``grid``: those cells drawn with Altair: one column per broker (id, address, state, the
  active controller starred), one row per partition.
- ``counters``: Kafka's own gauges and rates, named as its JMX metrics are:
  UnderReplicatedPartitions, OfflinePartitionsCount, ActiveControllerCount, IsrShrinksPerSec
  and IsrExpandsPerSec and LeaderElectionRate (here per minute, over the last minute).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

ROLES = ("leader", "in-sync", "out-of-sync", "offline")
ROLE_COLOURS = ("#4e79a7", "#59a14f", "#f28e2b", "#e15759")  # Tableau 10: blue, green, orange, red
DOWN_STATES = ("stopped", "paused")


def broker_label(broker: Mapping[str, Any]) -> str:
    """``broker 0 ★|127.0.0.1:9092|running``: the column heading, one line per ``|``."""
    star = " ★" if broker["controller"] else ""
    state = broker["state"] if isinstance(broker["state"], str) else "unknown"
    return f"broker {broker['node_id']}{star}|{broker['host']}:{broker['port']}|{state}"


def role(replica: int, partition: Mapping[str, Any], states: Mapping[int, str]) -> str:
    if replica in partition["offline"] or states.get(replica) in DOWN_STATES:
        return "offline"
    if replica == partition["leader"]:
        return "leader"
    return "in-sync" if replica in partition["isr"] else "out-of-sync"


def cells(partitions: pd.DataFrame, brokers: pd.DataFrame) -> pd.DataFrame:
    """partition, node_id, broker (its label), role, text (what the cell says) per replica."""
    states = dict(zip(brokers["node_id"], brokers["state"], strict=True))
    labels = {int(b["node_id"]): broker_label(b) for _, b in brokers.iterrows()}
    rows = []
    for _, part in partitions.iterrows():
        for replica in part["replicas"]:
            shown = role(replica, part, states)
            text = shown
            if shown == "leader" and pd.notna(part["leader_epoch"]):
                text = f"leader, epoch {int(part['leader_epoch'])}"
            rows.append(
                {
                    "partition": int(part["partition"]),
                    "node_id": int(replica),
                    "broker": labels.get(int(replica), f"broker {replica}|?|unknown"),
                    "role": shown,
                    "text": text,
                    "high_watermark": part["high_watermark"],
                }
            )
    return pd.DataFrame(
        rows, columns=["partition", "node_id", "broker", "role", "text", "high_watermark"]
    )


def grid(replicas: pd.DataFrame, brokers: pd.DataFrame) -> alt.Chart:
    """One column per broker, one row per partition, each replica's cell coloured by role."""
    columns = [broker_label(b) for _, b in brokers.iterrows()]
    columns += [c for c in replicas["broker"].unique() if c not in columns]
    partitions = sorted(replicas["partition"].unique().tolist())
    x = alt.X(
        "broker:N",
        scale=alt.Scale(domain=columns),
        title=None,
        axis=alt.Axis(orient="bottom", labelAngle=0, labelExpr="split(datum.label, '|')"),
    )
    y = alt.Y("partition:O", scale=alt.Scale(domain=partitions), title="partition")
    base = alt.Chart(replicas).encode(x=x, y=y)
    rect = base.mark_rect(stroke="white", strokeWidth=3).encode(
        color=alt.Color(
            "role:N",
            scale=alt.Scale(domain=list(ROLES), range=list(ROLE_COLOURS)),
            title="replica",
            legend=alt.Legend(orient="bottom"),
        ),
        tooltip=["partition:O", "node_id:N", "role:N", "text:N", "high_watermark:Q"],
    )
    label = base.mark_text(color="white", fontSize=14).encode(text="text:N")
    # A step, not a height: Streamlit stretches the width and keeps a fixed height's rows
    # squashed into a few pixels.
    return (rect + label).properties(height=alt.Step(44))


def counters(
    partitions: pd.DataFrame,
    brokers: pd.DataFrame,
    quorum: Mapping[str, Any] | None,
    last_minute: Mapping[str, int],
) -> dict[str, int]:
    """Kafka's replication gauges over every topic, and the last minute's event counts."""
    under = sum(
        len(isr) < len(replicas)
        for replicas, isr in zip(partitions["replicas"], partitions["isr"], strict=True)
    )
    controller = bool(brokers["controller"].any()) or (
        quorum is not None and quorum["leader_id"] >= 0
    )
    return {
        "Under-replicated partitions": int(under),
        "Offline partitions": int((partitions["leader"] < 0).sum()),
        "Active controller count": int(controller),
        "ISR shrinks /min": last_minute["isr_shrink"],
        "ISR expands /min": last_minute["isr_expand"],
        "Leader elections /min": last_minute["leader_election"],
    }
