"""A key's journey to its partition, step by step, as Kafka's Java client (``Utils.murmur2``,
``Utils.toPositive``) and librdkafka's ``murmur2_random`` partitioner compute it:

1. the key's bytes (a string key is sent as its UTF-8 bytes);
2. murmur2 of those bytes (seed ``0x9747b28c``), a signed 32-bit integer as Java holds it;
3. the positive mask: the hash ``& 0x7fffffff`` (not ``abs``: that would overflow on
   ``-2**31``);
4. that number modulo the topic's partition count: the partition.

A record without a key (null, not empty) takes no hash: the Java client places it by its
sticky partitioner, librdkafka's ``murmur2_random`` on a random partition. An empty key is a
key: its hash is murmur2 of no bytes.

``moves`` answers "what if this topic had one partition more": which keys would land on
another partition, and so lose their order against the records already written (Kafka's
CreatePartitions moves no records); ``moves_grid`` draws it with Altair.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import altair as alt
import pandas as pd

from dashboard.charts import PALETTE

SEED = 0x9747B28C
M = 0x5BD1E995
MASK32 = 0xFFFFFFFF
POSITIVE = 0x7FFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of ``data``: a signed 32-bit integer, as Java's ``int``."""
    length = len(data)
    h = (SEED ^ length) & MASK32
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * M) & MASK32
        k ^= k >> 24
        k = (k * M) & MASK32
        h = ((h * M) & MASK32) ^ k
    tail = data[whole:]
    if tail:  # Java's switch falls through: byte 2, then 1, then 0, then one multiply
        for shift, byte in reversed(list(enumerate(tail))):
            h ^= byte << (8 * shift)
        h = (h * M) & MASK32
    h ^= h >> 13
    h = (h * M) & MASK32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of a (non-null) ``key`` in a topic of ``partitions`` partitions."""
    return (murmur2(key) & POSITIVE) % partitions


@dataclass(frozen=True)
class Journey:
    """Each step of one key's way to its partition."""

    key: str
    key_bytes: bytes
    hash: int  # signed, as Java prints it
    positive: int  # hash & 0x7fffffff
    partitions: int
    partition: int

    def steps(self) -> pd.DataFrame:
        """step, value, how: the journey as a table a class reads top to bottom."""
        rows = [
            ("key", repr(self.key), "as typed"),
            (
                "bytes",
                self.key_bytes.hex(" ") or "(none)",
                f"UTF-8, {len(self.key_bytes)} byte{'' if len(self.key_bytes) == 1 else 's'}",
            ),
            ("murmur2", f"{self.hash}", f"0x{self.hash & MASK32:08x}, seed 0x{SEED:08x}"),
            ("positive", f"{self.positive}", "murmur2 & 0x7fffffff"),
            ("partition", f"{self.partition}", f"{self.positive} % {self.partitions}"),
        ]
        return pd.DataFrame(rows, columns=["step", "value", "how"])


def journey(key: str, partitions: int) -> Journey:
    """The journey of the string ``key`` in a topic of ``partitions`` partitions."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    data = key.encode("utf-8")
    hashed = murmur2(data)
    positive = hashed & POSITIVE
    return Journey(key, data, hashed, positive, partitions, positive % partitions)


def moves(keys: Iterable[str], partitions: int) -> pd.DataFrame:
    """key, now (its partition of ``partitions``), after (of ``partitions + 1``), moves:
    each distinct key once, in the order first seen."""
    distinct = list(dict.fromkeys(keys))
    now = [partition_for(k.encode("utf-8"), partitions) for k in distinct]
    after = [partition_for(k.encode("utf-8"), partitions + 1) for k in distinct]
    return pd.DataFrame(
        {
            "key": distinct,
            "now": now,
            "after": after,
            "moves": [a != b for a, b in zip(now, after, strict=True)],
        }
    )


def moves_grid(moved: pd.DataFrame) -> alt.Chart:
    """Keys counted by their partition now (rows) and with one partition more (columns):
    the diagonal stays, every other cell moves."""
    counts = moved.groupby(["now", "after"], as_index=False).agg(keys=("key", "count"))
    counts["moves"] = counts["now"] != counts["after"]
    base = alt.Chart(counts).encode(
        x=alt.X("after:O", title="partition with one more", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("now:O", title="partition now"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "moves:N",
            scale=alt.Scale(domain=[False, True], range=["#d9d9d9", PALETTE[2]]),
            title="moves",
        ),
        tooltip=["now:O", "after:O", "keys:Q", "moves:N"],
    )
    return alt.layer(cells, base.mark_text().encode(text="keys:Q")).properties(height=alt.Step(36))
