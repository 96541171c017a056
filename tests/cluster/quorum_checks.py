"""What the controller-quorum tests (tests/cluster/test_quorum_*.py) read of a real cluster:
the active controller and its epoch as the voters answer DescribeQuorum, which node acted as
controller in which epoch (each node logs ``node N is the active controller in epoch E`` when
its controller starts acting), and the metadata log each node holds on disk, whose
leader-change entries (Kafka's LeaderChangeMessage) name the leader of each epoch: a
controller acts only in the epoch its own leader-change entry starts, so at most one
controller per epoch is checked against the logs themselves."""

from __future__ import annotations

import re
import time
from collections import defaultdict

from broker.raft import leader_change
from broker.raft.messages import Entry
from broker.raft.store import RaftStore, metadata_log_dir
from tests.support.cluster import Cluster
from tests.support.waiting import eventually

THREE_VOTERS = {"brokers": 3, "controllers": 3}
_ACTIVE = re.compile(r"node (\d+) is the active controller in epoch (\d+)")


def active_controller(
    cluster: Cluster, *, after_epoch: int = -1, not_: int | None = None, timeout: float = 30.0
) -> tuple[int, int]:
    """Wait for a voter that leads the quorum in an epoch after ``after_epoch`` (and is not
    ``not_``) by its own DescribeQuorum answer; return (its id, the epoch)."""

    def found() -> tuple[int, int] | None:
        for node in cluster.nodes:
            if node.node_id == not_:
                continue
            view = cluster.quorum_view(node.node_id)
            if view is not None and view[0] and view[2] > after_epoch:
                return node.node_id, view[2]
        return None

    what = f"an active controller after epoch {after_epoch}" + (
        f" other than {not_}" if not_ is not None else ""
    )
    return eventually(found, what, timeout)


def controllers_by_epoch(cluster: Cluster) -> dict[int, set[int]]:
    """Every epoch some node's controller acted in, with the nodes that did (from the logs)."""
    acted: dict[int, set[int]] = defaultdict(set)
    for node in cluster.nodes:
        for match in _ACTIVE.finditer(node.read_log()):
            acted[int(match[2])].add(int(match[1]))
    return dict(acted)


def assert_one_controller_per_epoch(
    cluster: Cluster, logs: dict[int, tuple[int, list[Entry]]]
) -> dict[int, set[int]]:
    """At most one controller per epoch, in the metadata logs and in what the nodes did;
    returns who acted in which epoch."""
    return check_one_controller_per_epoch(controllers_by_epoch(cluster), logs)


def leaders_in_logs(logs: dict[int, tuple[int, list[Entry]]]) -> dict[int, set[int]]:
    """Every epoch whose leader-change entry some node's metadata log holds, with the leaders
    those entries name."""
    named: dict[int, set[int]] = defaultdict(set)
    for _, entries in logs.values():
        for entry in entries:
            if entry.leader_change:
                named[entry.epoch].add(leader_change.decode(entry.value).leader_id)
    return dict(named)


def check_one_controller_per_epoch(
    acted: dict[int, set[int]], logs: dict[int, tuple[int, list[Entry]]]
) -> dict[int, set[int]]:
    """No epoch has two leaders in the metadata logs, no two controllers acted in one epoch,
    and a controller acted only in an epoch the logs say it led (where they still hold that
    epoch's start: a snapshot may have replaced it)."""
    leaders = leaders_in_logs(logs)
    assert leaders, "no leader-change entry in any metadata log"
    twice = {epoch: ids for epoch, ids in leaders.items() if len(ids) > 1}
    assert not twice, f"the metadata logs name two leaders of one epoch: {twice}"
    assert acted, "no controller ever acted"
    twice = {epoch: nodes for epoch, nodes in acted.items() if len(nodes) > 1}
    assert not twice, f"two controllers acted in one epoch: {twice}"
    wrong = {
        epoch: (nodes, leaders[epoch])
        for epoch, nodes in acted.items()
        if epoch in leaders and nodes != leaders[epoch]
    }
    assert not wrong, f"a controller acted in an epoch another node led (acted, led): {wrong}"
    return acted


def metadata_logs(cluster: Cluster) -> dict[int, tuple[int, list[Entry]]]:
    """Each stopped voter's metadata log as it is on disk: (its start offset, its entries)."""
    logs = {}
    for node in cluster.nodes:
        if not node.layout.voter:
            continue
        assert not node.running, f"node {node.node_id} is still running"
        store = RaftStore.open(metadata_log_dir(node.layout.data_dir), [])
        try:
            logs[node.node_id] = (store.start_offset, store.entries())
        finally:
            store.close()
    return logs


def assert_logs_agree(logs: dict[int, tuple[int, list[Entry]]]) -> None:
    """Raft's log matching, on disk: each log's epochs never go down and each epoch starts
    with its leader-change entry; two logs that hold an entry of one epoch at one offset
    hold the same entries up to it (tails written after it may differ: a leader's
    uncommitted entries, cut short by a shutdown)."""
    for node, (start, entries) in logs.items():
        last_epoch = -1
        for offset, entry in enumerate(entries, start):
            assert entry.epoch >= last_epoch, f"node {node}: the epoch goes down at {offset}"
            if entry.epoch != last_epoch and start < offset:
                assert entry.leader_change, f"node {node}: epoch {entry.epoch} starts at {offset}"
            last_epoch = entry.epoch
    nodes = sorted(logs)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            (start_a, log_a), (start_b, log_b) = logs[a], logs[b]
            start = max(start_a, start_b)
            end = min(start_a + len(log_a), start_b + len(log_b))
            common = [
                o for o in range(start, end) if log_a[o - start_a].epoch == log_b[o - start_b].epoch
            ]
            for offset in range(start, common[-1] + 1 if common else start):
                assert log_a[offset - start_a] == log_b[offset - start_b], (
                    f"nodes {a} and {b} hold different entries at offset {offset}"
                )


class Stopwatch:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.started
