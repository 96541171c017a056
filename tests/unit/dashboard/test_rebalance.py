"""Ownership over time from the collector's samples (eager and cooperative groups) and from
the members' own callbacks, and the stretches without an owner each rebalance left."""

from __future__ import annotations

import pandas as pd

from dashboard.rebalance import (
    NO_OWNER,
    Callback,
    generations,
    ownership_from_callbacks,
    ownership_from_samples,
    spans,
    unowned,
)

STABLE, PREPARING = "STABLE", "PREPARING_REBALANCING"


def samples(rows: list[tuple[int, str, str, int | None, dict[str, list[int]]]]):
    """(second, state, assignor, generation, {member: partitions}) -> history, members."""
    history = pd.DataFrame(
        [(s * 1000, state, assignor, gen) for s, state, assignor, gen, _ in rows],
        columns=["ts_ms", "state", "assignor", "generation"],
    )
    members = pd.DataFrame(
        [
            (s * 1000, member, ",".join(f"tweets:{p}" for p in owned))
            for s, _, _, _, who in rows
            for member, owned in who.items()
        ],
        columns=["ts_ms", "client_id", "assignment"],
    )
    return history, members


def gaps(history, members) -> list[tuple[int, int, int]]:
    owners = ownership_from_samples(history, members, "tweets", range(6))
    found = unowned(spans(owners))
    return list(zip(found["partition"], found["start_ms"], found["unowned_ms"], strict=True))


def test_an_eager_rebalance_leaves_every_partition_without_an_owner():
    before = {"a": [0, 1, 2], "b": [3, 4, 5]}
    after = {"a": [0, 1], "b": [2, 3], "c": [4, 5]}
    history, members = samples(
        [(s, STABLE, "range", 1, before) for s in range(3)]
        + [(s, PREPARING, "", None, {"a": [], "b": [], "c": []}) for s in (3, 4)]
        + [(s, STABLE, "range", 2, after) for s in (5, 6)]
    )
    assert gaps(history, members) == [(p, 3000, 2000) for p in range(6)]
    table = generations(history, members)
    assert table[["generation", "members", "who"]].values.tolist() == [
        [1, 2, "a, b"],
        [2, 3, "a, b, c"],
    ]


def test_a_cooperative_rebalance_leaves_only_the_moved_partitions_without_one():
    history, members = samples(
        [(s, STABLE, "cooperative-sticky", 1, {"a": [0, 1, 2], "b": [3, 4, 5]}) for s in (0, 1)]
        + [(2, PREPARING, "", None, {"a": [], "b": []})]
        # The first rebalance takes 4 and 5 from b: Stable, and unassigned.
        + [(3, STABLE, "cooperative-sticky", 2, {"a": [0, 1, 2], "b": [3]})]
        + [(4, PREPARING, "", None, {"a": [], "b": [], "c": []})]
        + [(s, STABLE, "cooperative-sticky", 3, {"a": [0, 1, 2], "b": [3], "c": [4, 5]})
           for s in (5, 6)]
    )  # fmt: skip
    assert gaps(history, members) == [(4, 3000, 2000), (5, 3000, 2000)]
    owners = ownership_from_samples(history, members, "tweets", range(6))
    at_2s = owners[owners["ts_ms"] == 2000].set_index("partition")["owner"]
    assert at_2s.to_dict() == {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "b"}


def test_a_partition_never_owned_is_no_rebalance_gap():
    history, members = samples([(s, STABLE, "range", 1, {"a": [0]}) for s in range(3)])
    owners = ownership_from_samples(history, members, "tweets", range(2))
    assert set(owners[owners["partition"] == 1]["owner"]) == {NO_OWNER}
    assert unowned(spans(owners)).empty


def test_callbacks_give_the_gaps_to_the_millisecond():
    callbacks = [
        Callback(100, "a", "assigned", (0, 1)),
        Callback(150, "b", "assigned", (2,)),
        Callback(1000, "a", "revoked", (1,)),
        Callback(1300, "b", "assigned", (1,)),
        Callback(2000, "b", "revoked", (1, 2)),  # b leaves; nobody takes them before the end
    ]
    found = unowned(ownership_from_callbacks(callbacks, range(3), end_ms=2500))
    assert found[["partition", "start_ms", "unowned_ms", "ended"]].values.tolist() == [
        [1, 1000, 300, True],
        [1, 2000, 500, False],
        [2, 2000, 500, False],
    ]


def test_a_cooperative_member_that_leaves_takes_nothing_with_it():
    """Its partitions have no owner from the first sample it is no longer a member in."""
    history, members = samples(
        [(s, STABLE, "cooperative-sticky", 1, {"a": [0, 1, 2], "b": [3, 4, 5]}) for s in (0, 1)]
        + [(s, PREPARING, "", None, {"a": []}) for s in (2, 3)]
        + [(4, STABLE, "cooperative-sticky", 2, {"a": [0, 1, 2, 3, 4, 5]})]
    )
    assert gaps(history, members) == [(3, 2000, 2000), (4, 2000, 2000), (5, 2000, 2000)]
