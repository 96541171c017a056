"""The broker-wide request memory (``queued.max.request.bytes``): reservations, first come
first served, and what a closed connection gives back."""

from __future__ import annotations

from broker.net.memory import RequestMemory


def test_reservations_wait_in_order_until_memory_is_released():
    memory = RequestMemory(100)
    granted: list[str] = []
    assert memory.reserve(60, lambda size: granted.append(f"a{size}"))
    assert not memory.reserve(50, lambda size: granted.append(f"b{size}"))
    # A small request that would fit waits behind the larger one: no starving it.
    assert not memory.reserve(10, lambda size: granted.append(f"c{size}"))
    memory.release(60)
    assert granted == ["b50", "c10"] and memory.used == 60


def test_a_closed_waiter_is_forgotten_and_lets_the_next_one_in():
    memory = RequestMemory(100)
    granted: list[int] = []

    def first(size: int) -> None:
        granted.append(-size)

    memory.take(90)  # bytes that already arrived
    assert not memory.reserve(100, first)
    assert not memory.reserve(5, granted.append)
    memory.cancel(first)  # its connection closed while it waited
    assert granted == [5] and memory.used == 95


def test_no_bound_when_the_capacity_is_not_positive():
    for capacity in (0, -1):
        memory = RequestMemory(capacity)
        assert memory.reserve(1 << 40, lambda size: None)
        assert memory.reserve(1 << 40, lambda size: None)
