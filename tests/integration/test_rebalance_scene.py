"""The rebalance scene with real confluent-kafka members against a broker subprocess: when a
third member joins, the eager ``range`` assignor takes every partition from its owner for a
while; ``cooperative-sticky`` takes only those that move to the newcomer, and the others are
owned throughout."""

from __future__ import annotations

import signal
import subprocess
import sys

from chirpstream.kafka import ensure_topic
from chirpstream.settings import TWEETS_PARTITIONS, TWEETS_TOPIC
from dashboard import rebalance_scene
from dashboard.rebalance import ownership_from_callbacks, unowned
from dashboard.rebalance_scene import SceneResult
from tests.e2e.test_up import alive, wait_gone


def owners_at(result: SceneResult, ts_ms: int) -> dict[int, str]:
    spans = ownership_from_callbacks(result.callbacks, range(TWEETS_PARTITIONS), ts_ms)
    last = spans.sort_values("start_ms").groupby("partition").last()
    return last["owner"].to_dict()


def stopped_by_the_join(result: SceneResult) -> set[int]:
    """The partitions without an owner for a while between the join and the leave."""
    steps = dict((what, ts) for ts, what in result.steps)
    spans = ownership_from_callbacks(result.callbacks, range(TWEETS_PARTITIONS), steps["remove m1"])
    gaps = unowned(spans)
    return set(gaps[gaps["start_ms"] >= steps["add m2"]]["partition"])


def test_a_join_stops_every_partition_with_range_and_only_the_moved_ones_with_cooperative(
    broker, monkeypatch
):
    monkeypatch.setattr(rebalance_scene, "HOLD_S", 0.5)
    ensure_topic(broker.bootstrap, TWEETS_TOPIC, TWEETS_PARTITIONS)
    # Members hear of a rebalance at their next heartbeat: sooner than librdkafka's 3 s here,
    # to keep the test short; the order of events is the same.
    results = rebalance_scene.run(broker.bootstrap, {"heartbeat.interval.ms": "500"})

    eager = results["range"]
    assert stopped_by_the_join(eager) == set(range(TWEETS_PARTITIONS))

    cooperative = results["cooperative-sticky"]
    steps = dict((what, ts) for ts, what in cooperative.steps)
    before, after = (owners_at(cooperative, steps[s]) for s in ("add m2", "remove m1"))
    moved = {p for p in range(TWEETS_PARTITIONS) if before[p] != after[p]}
    assert {after[p] for p in moved} == {"m2"}
    assert 0 < len(moved) < TWEETS_PARTITIONS
    assert stopped_by_the_join(cooperative) == moved


def test_a_member_exits_when_the_process_that_started_it_is_killed(broker):
    # A page's process with a scene under way, killed as a Streamlit process may be.
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, broker.bootstrap], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        member = int(parent.stdout.readline())
        assert alive(member)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_gone({member}) == set()  # within 10 s
    finally:
        parent.kill()
        parent.wait()


PARENT = """
import sys, time
from dashboard.rebalance_scene import Scene
scene = Scene(sys.argv[1], {}, "range")
scene.add("m0")
print(scene.members["m0"].pid, flush=True)
time.sleep(60)
"""
