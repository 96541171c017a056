"""A node whose Raft runtime fails (here: its metadata log directory is gone when it must
record a vote) exits non-zero with one line saying why, instead of serving on without a
quorum member."""

from __future__ import annotations

import shutil

import pytest

from tests.support.cluster import Cluster
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster


def test_a_node_whose_raft_runtime_fails_exits_with_one_line(request, tmp_path) -> None:
    cluster = Cluster(tmp_path, brokers=3, controllers=3)
    request.node.brokers = cluster.nodes
    cluster.start()
    try:
        leader = eventually(lambda: (found := cluster.controller()) >= 0 and (found,), "a leader")[
            0
        ]
        broken = next(n for n in cluster.nodes if n.node_id != leader)
        shutil.rmtree(broken.layout.data_dir / "__cluster_metadata-0")
        cluster.kill(leader)  # the broken node must stand for election: it cannot vote
        code = broken.wait(60)
        errors = [line for line in broken.read_log().splitlines() if line.startswith("error:")]
        assert code == 1
        assert len(errors) == 1 and "the metadata quorum's Raft node stopped" in errors[0]
    finally:
        cluster.stop()
