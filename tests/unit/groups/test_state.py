from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

import broker.groups
from broker.groups.group import Group
from broker.groups.state import TRANSITIONS, GroupState, IllegalTransition, transition

KAFKA_TABLE = {
    ("Empty", "PreparingRebalance"),
    ("Empty", "Dead"),
    ("PreparingRebalance", "CompletingRebalance"),
    ("PreparingRebalance", "Empty"),
    ("PreparingRebalance", "Dead"),
    ("CompletingRebalance", "PreparingRebalance"),
    ("CompletingRebalance", "Stable"),
    ("CompletingRebalance", "Dead"),
    ("Stable", "PreparingRebalance"),
    ("Stable", "Dead"),
}


def test_states_carry_kafkas_display_names():
    assert [str(s) for s in GroupState] == [
        "Empty",
        "PreparingRebalance",
        "CompletingRebalance",
        "Stable",
        "Dead",
    ]


def test_the_table_is_kafkas():
    assert set(TRANSITIONS) == set(GroupState)
    assert {(str(a), str(b)) for a, targets in TRANSITIONS.items() for b in targets} == KAFKA_TABLE


@pytest.mark.parametrize(("current", "target"), list(itertools.product(GroupState, GroupState)))
def test_transition_allows_exactly_the_table(current, target):
    if (str(current), str(target)) in KAFKA_TABLE:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition, match=f"from {current} to {target}"):
            transition(current, target)


def test_a_group_changes_state_only_through_the_table():
    group = Group("g", now_ms=5)
    with pytest.raises(IllegalTransition):
        group.transition_to(GroupState.STABLE, 6)
    assert (group.state, group.previous_state, group.state_timestamp) == (GroupState.EMPTY, None, 5)
    group.transition_to(GroupState.PREPARING_REBALANCE, 7)
    assert group.state is GroupState.PREPARING_REBALANCE
    assert (group.previous_state, group.state_timestamp) == (GroupState.EMPTY, 7)
    group.transition_to(GroupState.DEAD, 8)
    for target in GroupState:
        with pytest.raises(IllegalTransition):
            group.transition_to(target, 9)


def test_nothing_but_transition_to_assigns_a_groups_state():
    """Source check: ``_state`` is assigned only in ``Group.__init__`` and ``transition_to``."""
    assigners = set()
    for path in Path(broker.groups.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                targets = []
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                    targets = [node.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Attribute) and leaf.attr in ("_state", "state"):
                            assigners.add((path.name, function.name))
    assert assigners == {("group.py", "__init__"), ("group.py", "transition_to")}
