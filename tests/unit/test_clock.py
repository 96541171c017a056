"""The manual clock fires due timers in order, and repeating duties keep their period."""

from __future__ import annotations

import asyncio

from broker.clock import ManualClock, Repeating, sleep


def test_advance_fires_due_timers_in_order_and_skips_cancelled_ones() -> None:
    clock = ManualClock(start_ms=1000)
    fired: list[tuple[str, int]] = []
    clock.call_later(0.3, lambda: fired.append(("c", clock.now_ms())))
    clock.call_later(0.1, lambda: fired.append(("a", clock.now_ms())))
    clock.call_later(0.1, lambda: fired.append(("b", clock.now_ms())))
    clock.call_later(0.2, lambda: fired.append(("x", clock.now_ms()))).cancel()
    clock.advance(250)
    assert fired == [("a", 1100), ("b", 1100)]
    assert clock.now_ms() == 1250 and clock.live_timers == 1
    clock.advance(50)
    assert fired[-1] == ("c", 1300)


def test_a_repeating_duty_runs_every_period_survives_failures_and_stops_when_cancelled() -> None:
    clock = ManualClock()
    runs: list[int] = []

    def duty() -> None:
        runs.append(clock.now_ms())
        if len(runs) == 2:
            raise RuntimeError("a failing pass")

    repeating = Repeating(clock, 100, duty)
    clock.advance(350)
    assert runs == [100, 200, 300]
    repeating.cancel()
    clock.advance(1000)
    assert runs == [100, 200, 300] and clock.live_timers == 0


def test_sleep_on_a_manual_clock_ends_when_time_passes_it():
    async def scenario() -> list[bool]:
        clock = ManualClock()
        nap = sleep(clock, 0.5)
        seen = [nap.done()]
        clock.advance(499)
        seen.append(nap.done())
        clock.advance(1)
        seen.append(nap.done())
        return seen

    assert asyncio.run(scenario()) == [False, False, True]
