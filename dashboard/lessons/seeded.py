"""The lessons' own topic, group and records: the same for every student's run.

The keys are fixed, so murmur2 places them on the same partitions of the 3-partition lesson
topic in every run (``dashboard.key_journey.partition_for`` predicts where); the burst of
lesson 4 comes from a fixed seed, so its keys and texts are the same every time.
"""

from __future__ import annotations

import random

from dashboard.key_journey import partition_for

TOPIC = "lesson"
PARTITIONS = 3
GROUP = "class"
SEED = 19
BURST = 300  # records lesson 4 adds, read by nobody
# The README's walkthrough (step 2) sends these, in this order.
MESSAGES: tuple[tuple[str, str], ...] = (
    ("alice", "hello"),
    ("bob", "hi"),
    ("alice", "again"),
    ("carol", "hey"),
    ("bob", "bye"),
    ("alice", "third"),
)
STUDENTS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
WORDS = ("kafka", "log", "offset", "partition", "replica", "leader", "group", "commit")


def predicted_partition(key: str) -> int:
    """Where the pipeline's partitioner (murmur2) puts ``key`` in the lesson topic."""
    return partition_for(key.encode(), PARTITIONS)


def burst(count: int = BURST) -> list[tuple[str, str]]:
    """``count`` (key, text) records from ``SEED``: the same list on every call."""
    rng = random.Random(SEED)
    return [
        (rng.choice(STUDENTS), " ".join(rng.choice(WORDS) for _ in range(4))) for _ in range(count)
    ]
