"""R1, R2, R3, R4 and R6 of the reliability plan on a real cluster (the layout and workload
of ``tests.cluster.scenario``: the topic's three replicas on brokers 1-3, the controller on
node 0 out of harm's way), with the history checker at the end: 0 acked lost, 0 duplicated, no
offset with two values. ``CLUSTER_SEEDS`` sets how many
seeds each runs (``make chaos``: 10), ``CLUSTER_SEED`` reruns one."""

from __future__ import annotations

import random
import time

import pytest
from kio.schema.errors import ErrorCode

from tests.cluster.scenario import (
    REPLICAS,
    TOPIC_CONFIG,
    Steps,
    cluster_seeds,
    create_topic,
    finish,
    produce_directly,
    start_producers,
    wait_for_full_isr,
)
from tests.support.cluster import NO_LEADER, SLOW_S
from tests.support.history import History
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster

BOUNCES = 5
WATCH_S = 3.0  # how long "nothing happens" is watched for


@pytest.mark.parametrize("seed", cluster_seeds())
def test_r1_leader_bounced_five_times_hard_then_once_cleanly_loses_nothing(cluster_factory, seed):
    """Kafka's replication_test hard_bounce: SIGKILL the partition's leader, wait for another
    leader, restart it, five times; then one clean bounce (SIGTERM, a controlled shutdown)."""
    step = Steps(seed)
    rng = random.Random(seed)
    cluster = cluster_factory()
    create_topic(cluster, "r1", rng)
    history = History()
    pool = start_producers(cluster, "r1", history)
    for bounce in range(BOUNCES + 1):
        clean = bounce == BOUNCES
        pool.wait_for_acks(pool.acked() + rng.randint(50, 400))
        leader = cluster.wait_for_leader("r1", 0)
        step(f"bounce {bounce + 1}: {'SIGTERM' if clean else 'SIGKILL'} to leader {leader}")
        if clean:
            assert cluster.terminate(leader) == 0
        else:
            cluster.kill(leader)
        step(f"{cluster.wait_for_leader('r1', 0, not_=leader)} leads")
        cluster.start_node(leader)
        step(f"{leader} restarted")
        wait_for_full_isr(cluster, "r1")
        step("the ISR is full again")
    acked_before_the_end = pool.acked()
    pool.wait_for_acks(acked_before_the_end + 100)
    finish(cluster, "r1", history, pool, seed)


@pytest.mark.parametrize("seed", cluster_seeds())
def test_r2_two_brokers_down_refuse_acks_all_accept_acks_1_and_writing_recovers(
    cluster_factory, seed
):
    """Kafka's test_two_nodes_down: with two of three replicas gone the ISR shrinks below
    min.insync.replicas, acks=all gets NOT_ENOUGH_REPLICAS and nothing is acked; acks=1 is
    still taken (Kafka documents it); one broker back and writing resumes."""
    step = Steps(seed)
    rng = random.Random(seed)
    cluster = cluster_factory()
    create_topic(cluster, "r2", rng)
    history = History()
    pool = start_producers(cluster, "r2", history)
    pool.wait_for_acks(rng.randint(100, 500))
    leader = cluster.wait_for_leader("r2", 0)
    followers = [b for b in REPLICAS if b != leader]
    step(f"killing followers {followers} of leader {leader}")
    for follower in followers:
        cluster.kill(follower)
    eventually(lambda: cluster.isr("r2", 0) == (leader,), "the ISR is the leader alone", SLOW_S)
    step("the ISR is the leader alone")
    # Acks of writes replicated before the kills came before the shrink (replica.lag.time.max.ms
    # later); from here on nothing may be acked.
    acked = pool.acked()
    time.sleep(WATCH_S)
    assert pool.acked() == acked, "acked with the ISR below min.insync.replicas"
    assert produce_directly(cluster, leader, "r2", history) is ErrorCode.not_enough_replicas
    assert produce_directly(cluster, leader, "r2", history, acks=1) is ErrorCode.none
    assert pool.acked() == acked + 1, "only the acks=1 write was acked"
    back = rng.choice(followers)
    cluster.start_node(back)
    step(f"{back} restarted")
    pool.wait_for_acks(acked + 100)  # one follower back in the ISR is enough for min.insync=2
    step("acks resumed")
    cluster.start_node(next(f for f in followers if f != back))
    wait_for_full_isr(cluster, "r2")
    step("the ISR is full again")
    finish(cluster, "r2", history, pool, seed)


@pytest.mark.parametrize("seed", cluster_seeds())
def test_r3_a_replica_that_fell_out_of_the_isr_is_never_elected(cluster_factory, seed):
    """Jepsen 2013: pause follower C until it leaves the ISR, write with {A, B}, kill A and B,
    resume C. Unclean election is off, so the partition stays without a leader rather than
    electing C and losing what A and B acked; when A and B return every acked write is
    there."""
    step = Steps(seed)
    rng = random.Random(seed)
    cluster = cluster_factory()
    create_topic(cluster, "r3", rng)
    history = History()
    pool = start_producers(cluster, "r3", history)
    pool.wait_for_acks(rng.randint(100, 500))
    a = cluster.wait_for_leader("r3", 0)
    b, c = rng.sample([x for x in REPLICAS if x != a], 2)
    step(f"pausing follower {c}; {a} leads, {b} follows")
    cluster.pause(c)
    eventually(lambda: sorted(cluster.isr("r3", 0)) == sorted((a, b)), f"{c} left the ISR", SLOW_S)
    step(f"{c} left the ISR")
    pool.wait_for_acks(pool.acked() + rng.randint(100, 500))  # acked by {A, B} alone
    step(f"killing {a} and {b}, resuming {c}")
    cluster.kill(a)
    cluster.kill(b)
    cluster.resume(c)
    eventually(lambda: (view := cluster.view(c, "r3", 0)) and view.leader == NO_LEADER,
               f"{c} sees the partition without a leader", SLOW_S)  # fmt: skip
    step(f"{c} sees no leader")
    watch_until = time.monotonic() + WATCH_S
    while time.monotonic() < watch_until:
        assert cluster.leader("r3", 0) != c, f"out-of-sync replica {c} was elected"
        time.sleep(0.1)
    assert produce_directly(cluster, c, "r3", history) is ErrorCode.not_leader_or_follower
    # Which of A and B is the last in the ISR depends on which was fenced last: start both.
    cluster.start_node(a)
    cluster.start_node(b)
    step(f"{a} and {b} restarted")
    assert cluster.wait_for_leader("r3", 0) in (a, b)
    wait_for_full_isr(cluster, "r3")
    step("the ISR is full again")
    pool.wait_for_acks(pool.acked() + 100)
    finish(cluster, "r3", history, pool, seed)


@pytest.mark.parametrize("seed", cluster_seeds())
def test_r4_a_restarted_follower_keeps_what_was_acked_past_its_high_watermark(
    cluster_factory, seed
):
    """KIP-101: follower B holds the last acked writes but, killed at once, a high watermark
    from before them. B restarts and leader A is killed as soon as B is up: if B leads now
    it must still have every acked write (truncating to its stale high watermark would lose
    them); if B is not eligible the partition waits for A. Either way nothing acked is lost
    and the logs agree once A is back."""
    step = Steps(seed)
    rng = random.Random(seed)
    cluster = cluster_factory()
    a, b = rng.sample(REPLICAS, 2)
    cluster.create_topic("r4", assignment=[[a, b]], **TOPIC_CONFIG)
    history = History()
    pool = start_producers(cluster, "r4", history)
    pool.wait_for_acks(rng.randint(200, 1000))
    time.sleep(rng.uniform(0, 0.2))
    step(f"SIGKILL and restart of follower {b}, then SIGKILL of leader {a}")
    cluster.kill(b)
    cluster.start_node(b)
    cluster.kill(a)

    def settled() -> str | None:
        seen = cluster.freshest("r4", 0)
        if seen is not None and seen.leader == b and cluster.leader("r4", 0) == b:
            return "B leads"
        if seen is not None and seen.leader == NO_LEADER and b not in seen.isr:
            return "no leader until A is back"
        return None

    outcome = eventually(settled, f"{b} leads, or the partition waits for {a}", SLOW_S)
    step(f"after {a}'s death: {outcome}")
    cluster.start_node(a)
    cluster.wait_for_leader("r4", 0)
    wait_for_full_isr(cluster, "r4", replicas=2)
    step("the ISR is full again")
    pool.wait_for_acks(pool.acked() + 100)
    finish(cluster, "r4", history, pool, seed)


@pytest.mark.parametrize("seed", cluster_seeds())
def test_r6_a_paused_leader_is_replaced_and_fenced_when_it_wakes(cluster_factory, seed):
    """A zombie leader: SIGSTOP it past the session timeout, a new leader is elected with a
    higher epoch and takes writes; SIGCONT the old one: it learns it is no longer the leader,
    refuses writes (NOT_LEADER_OR_FOLLOWER) and truncates whatever it appended alone."""
    step = Steps(seed)
    rng = random.Random(seed)
    cluster = cluster_factory()
    create_topic(cluster, "r6", rng)
    history = History()
    pool = start_producers(cluster, "r6", history)
    pool.wait_for_acks(rng.randint(100, 500))
    old = cluster.wait_for_leader("r6", 0)
    old_view = cluster.view(old, "r6", 0)
    assert old_view is not None
    step(f"pausing leader {old} (epoch {old_view.leader_epoch})")
    cluster.pause(old)
    new = cluster.wait_for_leader("r6", 0, not_=old)
    new_view = cluster.view(new, "r6", 0)
    assert new_view is not None and new_view.leader_epoch > old_view.leader_epoch
    step(f"{new} leads in epoch {new_view.leader_epoch}")
    pool.wait_for_acks(pool.acked() + rng.randint(100, 500))
    step(f"resuming {old}")
    cluster.resume(old)
    eventually(
        lambda: produce_directly(cluster, old, "r6", history) is ErrorCode.not_leader_or_follower,
        f"the old leader {old} refuses writes",
        SLOW_S,
    )
    step(f"{old} refuses writes")
    wait_for_full_isr(cluster, "r6")
    step(f"{old} is back in the ISR")
    pool.wait_for_acks(pool.acked() + 100)
    finish(cluster, "r6", history, pool, seed)
