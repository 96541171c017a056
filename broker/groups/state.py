"""The classic group's states and the one table of transitions between them.

Kafka's ``ClassicGroupState``: a group is created Empty, a join moves it to PreparingRebalance,
the end of the join phase to CompletingRebalance (or back to Empty when nobody is left), the
leader's assignment to Stable. Dead is final. ``transition`` is the only gate: a state change
that is not in ``TRANSITIONS`` raises ``IllegalTransition``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class GroupState(enum.Enum):
    """A classic group's state; the value is Kafka's display name."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"

    def __str__(self) -> str:
        return self.value


_S = GroupState

TRANSITIONS: Mapping[GroupState, frozenset[GroupState]] = MappingProxyType(
    {
        _S.EMPTY: frozenset({_S.PREPARING_REBALANCE, _S.DEAD}),
        _S.PREPARING_REBALANCE: frozenset({_S.COMPLETING_REBALANCE, _S.EMPTY, _S.DEAD}),
        _S.COMPLETING_REBALANCE: frozenset({_S.PREPARING_REBALANCE, _S.STABLE, _S.DEAD}),
        _S.STABLE: frozenset({_S.PREPARING_REBALANCE, _S.DEAD}),
        _S.DEAD: frozenset(),
    }
)


class IllegalTransition(RuntimeError):
    """A state change the table does not allow: a bug in the coordinator, never a client's."""


def transition(current: GroupState, target: GroupState) -> GroupState:
    """``target`` if the table allows ``current -> target``; raises ``IllegalTransition``."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"a group cannot go from {current} to {target}")
    return target
