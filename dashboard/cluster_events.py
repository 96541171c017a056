"""What changed in the cluster between two samples, as the event timeline shows it.

Everything here is derived from what any Kafka client sees (metadata, DescribeCluster,
DescribeQuorum, the groups), by comparing the previous sample with the new one: a change
that came and went between two samples is not seen, as with any polling monitor.

- ``leader_election``: a partition's leader or leader epoch changed (old -> new leader, epoch);
- ``isr_shrink`` / ``isr_expand``: replicas left or joined a partition's ISR;
- ``broker_state``: a broker appeared, or its state changed (running, fenced, paused,
  stopped);
- ``controller_change``: another node became the active controller, or the quorum's epoch
  moved on;
- ``rebalance``: a consumer group's generation changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashboard.rows import ClusterSample, EventRow, PartitionRow

NO_LEADER = -1


def _nodes(ids: Sequence[int]) -> str:
    return "[" + ",".join(str(n) for n in ids) + "]"


def _leader(node: int) -> str:
    return "none (offline)" if node == NO_LEADER else str(node)


def _controller(sample: ClusterSample) -> tuple[int | None, int | None]:
    """(the active controller, the quorum epoch) as ``sample`` saw them."""
    epoch = None if sample.quorum is None else sample.quorum.leader_epoch
    for broker in sample.brokers:
        if broker.controller:
            return broker.node_id, epoch
    if sample.quorum is not None and sample.quorum.leader_id >= 0:
        return sample.quorum.leader_id, epoch
    return None, epoch


def diff(before: ClusterSample | None, after: ClusterSample) -> list[EventRow]:
    """The events between ``before`` (None: the first sample, no events) and ``after``."""
    if before is None:
        return []
    ts = after.ts_ms
    events: list[EventRow] = []
    old_parts = {(p.topic, p.partition): p for p in before.partitions}
    for part in after.partitions:
        old = old_parts.get((part.topic, part.partition))
        if old is not None:
            events.extend(_partition_events(ts, old, part))
    old_states = {b.node_id: b.state or ("running" if b.up else "stopped") for b in before.brokers}
    for broker in after.brokers:
        state = broker.state or ("running" if broker.up else "stopped")
        was = old_states.get(broker.node_id)
        if was != state:
            text = (
                f"Broker {broker.node_id} appeared ({state})"
                if was is None
                else f"Broker {broker.node_id}: {was} → {state}"
            )
            events.append(EventRow(ts, "broker_state", text, node_id=broker.node_id))
    (old_id, old_epoch), (new_id, new_epoch) = _controller(before), _controller(after)
    if new_id is not None and (new_id != old_id or (old_epoch or 0) < (new_epoch or 0)):
        epoch = "" if new_epoch is None else f" (quorum epoch {new_epoch})"
        events.append(
            EventRow(
                ts,
                "controller_change",
                f"Active controller: {'none' if old_id is None else old_id} → {new_id}{epoch}",
                node_id=new_id,
            )
        )
    generations = {g.group_id: g.generation for g in before.groups}
    for group in after.groups:
        old_generation = generations.get(group.group_id)
        if group.generation is not None and old_generation not in (None, group.generation):
            events.append(
                EventRow(
                    ts,
                    "rebalance",
                    f"Group {group.group_id} rebalanced: generation {old_generation} →"
                    f" {group.generation} ({group.members} members)",
                )
            )
    return events


def _partition_events(ts: int, old: PartitionRow, new: PartitionRow) -> list[EventRow]:
    name = f"{new.topic}-{new.partition}"
    where = {"topic": new.topic, "partition": new.partition}
    events = []
    epoch_moved = (
        old.leader_epoch is not None
        and new.leader_epoch is not None
        and new.leader_epoch > old.leader_epoch
    )
    if old.leader != new.leader or epoch_moved:
        epochs = ""
        if old.leader_epoch is not None and new.leader_epoch is not None:
            epochs = f" (epoch {old.leader_epoch} → {new.leader_epoch})"
        events.append(
            EventRow(
                ts,
                "leader_election",
                f"Leader of {name}: {_leader(old.leader)} → {_leader(new.leader)}{epochs}",
                node_id=new.leader,
                **where,
            )
        )
    left = [n for n in old.isr if n not in new.isr]
    joined = [n for n in new.isr if n not in old.isr]
    if left:
        events.append(
            EventRow(
                ts,
                "isr_shrink",
                f"ISR of {name} shrank: {_nodes(old.isr)} → {_nodes(new.isr)}",
                node_id=left[0],
                **where,
            )
        )
    if joined:
        events.append(
            EventRow(
                ts,
                "isr_expand",
                f"ISR of {name} expanded: {_nodes(old.isr)} → {_nodes(new.isr)}",
                node_id=joined[0],
                **where,
            )
        )
    return events
