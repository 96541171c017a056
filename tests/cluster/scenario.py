"""What every fault scenario of tests/cluster shares: four nodes, node 0 the single controller
(and a broker), and a one-partition topic with its three replicas on brokers 1-3, so any
replica may die while the controller lives on; ``min.insync.replicas=2``, unclean election off
(Kafka's default); idempotent acks=all producers recorded in a ``History``, single writes sent
straight to one node and recorded the same way; and the final check: every acked value read
once at its offset, nothing duplicated, no offset with two values."""

from __future__ import annotations

import itertools
import random
import time

from kio.schema.errors import ErrorCode

from tests.support.batches import make_batch
from tests.support.cluster import SLOW_S, Cluster
from tests.support.history import History, Report
from tests.support.waiting import eventually
from tests.support.wire import WireClient
from tests.support.workload import ProducerPool, read_back, seeds

TOPIC_CONFIG = {"min.insync.replicas": "2"}
REPLICAS = (1, 2, 3)  # the brokers that hold the topic; node 0 is the controller
PRODUCERS = 2  # two producer threads: enough concurrency for 2 cores shared with 4 nodes
# Answers that say the write was refused before it was appended.
REFUSED = {
    ErrorCode.not_enough_replicas,
    ErrorCode.not_leader_or_follower,
    ErrorCode.fenced_leader_epoch,
    ErrorCode.unknown_leader_epoch,
    ErrorCode.unknown_topic_or_partition,
}
_wire_values = itertools.count()


class Steps:
    """Prints each step of a scenario with the seconds since the scenario began, so a failing
    run's output reads as a timeline next to the nodes' logs."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.started = time.monotonic()
        print(f"seed={seed} started at {time.strftime('%H:%M:%S')}", flush=True)

    def __call__(self, what: str) -> None:
        print(f"seed={self.seed} {time.monotonic() - self.started:6.1f} s  {what}", flush=True)


def cluster_seeds() -> list[int]:
    """One seed in ``make test``; ``make chaos`` sets CLUSTER_SEEDS=10."""
    return seeds(1, "CLUSTER")


def create_topic(cluster: Cluster, topic: str, rng: random.Random) -> None:
    """The scenario's topic on ``REPLICAS``, in a seeded order (the first is the preferred
    leader)."""
    order = list(REPLICAS)
    rng.shuffle(order)
    cluster.create_topic(topic, assignment=[order], **TOPIC_CONFIG)


def start_producers(cluster: Cluster, topic: str, history: History) -> ProducerPool:
    # librdkafka waits socket.timeout.ms (60 s) on a request to a paused broker before it
    # gives the connection up; a test cannot wait that long for a producer to move on.
    return ProducerPool(
        cluster.bootstrap, topic, history, producers=PRODUCERS, **{"socket.timeout.ms": 5000}
    ).start()


def wait_for_full_isr(
    cluster: Cluster, topic: str, replicas: int = 3, timeout: float = SLOW_S
) -> None:
    eventually(
        lambda: len(cluster.isr(topic, 0)) == replicas,
        f"all {replicas} replicas of {topic}-0 back in the ISR",
        timeout,
    )


def produce_directly(
    cluster: Cluster, node_id: int, topic: str, history: History, acks: int = -1
) -> ErrorCode:
    """One value sent to node ``node_id`` alone, recorded in ``history``: ok at its offset,
    failed when refused before the append, unknown otherwise. Returns the answer's code."""
    value = f"wire-{next(_wire_values)}"
    history.invoke("wire", value)
    try:
        with WireClient(cluster.node(node_id).port, timeout=10.0) as client:
            answer = client.produce(topic, make_batch([value.encode()]), acks=acks)
    except OSError as exc:
        history.unknown(value, repr(exc))
        raise
    code = ErrorCode(answer.error_code)
    if code is ErrorCode.none:
        history.ok(value, 0, answer.base_offset)
    elif code in REFUSED:
        history.fail(value, code.name)
    else:
        history.unknown(value, code.name)
    return code


def finish(cluster: Cluster, topic: str, history: History, pool: ProducerPool, seed: int) -> Report:
    """Stop producing, read everything back from the healed cluster, and check the history."""
    pool.stop()
    started = time.monotonic()
    report = history.check(read_back(cluster.bootstrap, topic, 1))
    print(f"seed={seed} {report.summary()} (read back in {time.monotonic() - started:.1f} s)")
    assert report.valid, f"seed={seed}\n{report.details()}"
    assert pool.fatal_errors == [], f"seed={seed}"
    return report
