"""Seeded runs of three replicas through writes, fetches, leader elections, nodes that
learn of them late (zombie leaders that write on in an old epoch, followers fetching from
them) and restarts with a high watermark checkpointed some time before (KIP-101): whatever
any leader ever counted as committed (below its high watermark) stays at its offset in every
log, and once every node knows the last leader all logs are its log, byte for
byte, with the same leader epochs. The ISR is every replica and never shrinks, so any replica
may be elected: what is checked is truncation by leader epoch, not the ISR rules."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from broker.protocol.batch import validate_produced
from broker.replica.replica import Replica, Role
from tests.support.batches import make_batch
from tests.unit.replica.exchange import (
    NOW_MS,
    batches_below,
    catch_up,
    everything,
    fetch,
    replica_in,
)

NODES = (0, 1, 2)
ALL = frozenset(NODES)
STEPS = 60


class Run:
    def __init__(self, root: Path, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.root = root
        self.replicas = {n: replica_in(root / f"node-{n}", n, isr=ALL) for n in NODES}
        self.checkpoints = dict.fromkeys(NODES, 0)  # each node's last replication checkpoint
        self.leader, self.epoch = 0, 1
        self.written = 0
        self.committed: dict[int, bytes] = {}
        self.trace: list[str] = []
        for node in NODES:
            self.learn(node)

    def learn(self, node: int) -> None:
        """``node`` applies the newest image."""
        replica = self.replicas[node]
        if node == self.leader:
            replica.become_leader(self.epoch, ALL)
        else:
            replica.become_follower(self.leader, self.epoch)

    def step(self) -> None:
        rng, replicas = self.rng, self.replicas
        node = rng.choice(NODES)
        if rng.random() < 0.1:
            self.checkpoints[node] = replicas[node].high_watermark
        roll = rng.random()
        if roll < 0.25:
            leaders = [r for r in replicas.values() if r.role is Role.LEADER]
            writer = rng.choice(leaders)
            self.written += 1
            batch = make_batch([b"s%d-w%d" % (self.seed, self.written)])
            writer.append(batch, validate_produced(batch), NOW_MS)
            self.trace.append(f"node {writer.node_id} (epoch {writer.leader_epoch}) writes")
        elif roll < 0.65:
            followers = [r for r in replicas.values() if r.role is Role.FOLLOWER]
            if followers:
                follower = rng.choice(followers)
                leader = replicas[follower.leader_id]
                if leader.check_leader(follower.leader_epoch) is None:
                    fetch(leader, follower)
                    self.trace.append(f"node {follower.node_id} fetches from {leader.node_id}")
        elif roll < 0.75:
            self.leader, self.epoch = rng.choice(NODES), self.epoch + 1
            self.learn(self.leader)
            self.trace.append(f"node {self.leader} elected in epoch {self.epoch}")
        elif roll < 0.9:  # a crash and restart: the log as it was, the HW as checkpointed
            replicas[node].log.close()
            hw = self.checkpoints[node]
            replicas[node] = replica_in(self.root / f"node-{node}", node, hw, ALL)
            self.learn(node)
            self.trace.append(f"node {node} restarts with high watermark {hw}")
        else:
            late = [n for n in NODES if replicas[n].leader_epoch != self.epoch]
            if late:
                node = rng.choice(late)
                self.learn(node)
                self.trace.append(f"node {node} learns epoch {self.epoch}")
        self.record_committed()

    def record_committed(self) -> None:
        """What each node leading in its own eyes has committed; never two values at one
        offset."""
        for replica in self.replicas.values():
            if replica.role is Role.LEADER:
                for offset, batch in batches_below(replica, replica.high_watermark).items():
                    known = self.committed.setdefault(offset, batch)
                    assert known == batch, f"offset {offset} committed with two values"

    def settle(self) -> Replica:
        """Every node learns the last image and follows until nothing is left to fetch."""
        for node in NODES:
            self.learn(node)
        leader = self.replicas[self.leader]
        for _ in range(2):  # the second round tells every follower the final HW
            for replica in self.replicas.values():
                if replica is not leader:
                    catch_up(leader, replica)
        return leader

    def close(self) -> None:
        for replica in self.replicas.values():
            replica.log.close()


@pytest.mark.parametrize("seed", range(40))
def test_committed_writes_survive_failovers_and_logs_converge(tmp_path, seed) -> None:
    run = Run(tmp_path, seed)
    try:
        for _ in range(STEPS):
            run.step()
        leader = run.settle()
        trace = "\n".join(run.trace)
        final = everything(leader)
        # A leader's own epoch is in its cache from its election; followers learn an epoch
        # from the batches written in it.
        written = [e for e in leader.log.leader_epochs if e[1] < leader.log_end_offset]
        for replica in run.replicas.values():
            assert everything(replica) == final, f"seed {seed}: logs differ\n{trace}"
            if replica is not leader:
                assert replica.log.leader_epochs == written, f"seed {seed}\n{trace}"
        kept = batches_below(leader, leader.log_end_offset)
        lost = {o for o, batch in run.committed.items() if kept.get(o) != batch}
        assert not lost, f"seed {seed}: committed offsets {sorted(lost)} lost\n{trace}"
        assert leader.high_watermark == leader.log_end_offset
    finally:
        run.close()
