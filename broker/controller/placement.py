"""Where a new partition's replicas go: Kafka's striped round-robin placement.

The shape of Kafka's rack-unaware assignment (``StripedReplicaPlacer`` for one rack, and the
classic ``assignReplicasToBrokers``): over the usable brokers sorted by id, partition ``p``'s
first replica is broker ``(start + p) mod n``, and its followers follow at a distance set by a
``shift`` that grows by one each time the partitions wrap around the brokers. Leaders (first
replicas) are spread evenly, and so are followers, without any broker twice in a partition.
The caller picks ``start`` and ``shift`` (Kafka picks them at random) so placement is a pure
function.
"""

from __future__ import annotations

from collections.abc import Sequence


class PlacementError(ValueError):
    """The replicas cannot be placed (a replication factor the brokers cannot reach)."""


def place_replicas(
    brokers: Sequence[int],
    partitions: int,
    replication_factor: int,
    *,
    start: int,
    shift: int,
    first_partition: int = 0,
) -> list[tuple[int, ...]]:
    """Replica lists for partitions ``first_partition .. first_partition + partitions - 1``.

    ``brokers`` are the usable (unfenced, not shutting down) broker ids. Raises
    :class:`PlacementError` with Kafka's message when ``replication_factor`` is below 1 or
    above the number of usable brokers."""
    if replication_factor < 1:
        raise PlacementError("Invalid replication factor: the replication factor must be positive.")
    ordered = sorted(brokers)
    n = len(ordered)
    if replication_factor > n:
        raise PlacementError(
            f"Unable to replicate the partition {replication_factor} time(s): The target "
            f"replication factor of {replication_factor} cannot be reached because only "
            f"{n} broker(s) are registered."
        )
    start %= n
    placed = []
    for partition in range(first_partition, first_partition + partitions):
        wraps = partition // n  # how many times the partitions went round the brokers
        first = (start + partition) % n
        replicas = [ordered[first]]
        for follower in range(replication_factor - 1):
            # A distance in 1..n-1 from the first replica, so no broker is picked twice.
            distance = 1 + (shift + wraps + follower) % (n - 1)
            replicas.append(ordered[(first + distance) % n])
        placed.append(tuple(replicas))
    return placed
