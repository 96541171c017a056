"""The filter on librdkafka's log: one line per change of a broker's state, not per retry."""

from __future__ import annotations

import logging

from chirpstream.logs import REPEAT_AFTER_S, RepeatFilter

REFUSED = (
    "[thrd:h:9092/bootstrap]: h:9092/bootstrap: Connect to h:9092 failed: refused (after {}ms)"
)
DISCONNECTED = "[thrd:h:9092/bootstrap]: h:9092/bootstrap: Disconnected (after {}ms in state UP)"


def line(text: str, client: str = "rdkafka#producer-1") -> logging.LogRecord:
    return logging.LogRecord(
        "chirpstream.librdkafka", logging.ERROR, "", 0, "%s [%s] %s", ("FAIL", client, text), None
    )


def test_repeats_are_dropped_and_each_state_change_is_one_line():
    now = [0.0]
    keep = RepeatFilter(clock=lambda: now[0]).filter
    shown = []
    for text in [REFUSED.format(0), REFUSED.format(1), DISCONNECTED.format(5), REFUSED.format(0)]:
        now[0] += 1
        record = line(text)
        if keep(record):
            shown.append(record.getMessage())
    assert len(shown) == 3  # down, (still down: dropped), came back and went down, down
    assert "Disconnected" in shown[1] and "refused" in shown[2]


def test_a_lasting_state_is_said_again_once_a_minute_with_the_count():
    now = [0.0]
    keep = RepeatFilter(clock=lambda: now[0]).filter
    assert keep(line(REFUSED.format(0)))
    for _ in range(5):
        now[0] += 1
        assert not keep(line(REFUSED.format(0)))
    assert keep(line(REFUSED.format(0), client="rdkafka#consumer-2"))  # another client
    now[0] = REPEAT_AFTER_S + 0.5
    again = line(REFUSED.format(0))
    assert keep(again)
    assert "5 repeats" in again.getMessage()
