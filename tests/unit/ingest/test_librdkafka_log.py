"""The filter on librdkafka's log: one line per change of a broker's state, not per retry."""

from __future__ import annotations

import json
import logging

from chirpstream.logs import REPEAT_AFTER_S, LeaderLog, RepeatFilter

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


def stats(**leaders: int) -> str:
    """librdkafka's statistics JSON naming each ``tweets`` partition's leader (p0=1, ...),
    with the ``-1`` partition librdkafka keeps for messages not yet partitioned."""
    partitions = {key[1:]: {"partition": int(key[1:]), "leader": v} for key, v in leaders.items()}
    partitions["-1"] = {"partition": -1, "leader": -1}
    return json.dumps(
        {"name": "rdkafka#producer-1", "topics": {"tweets": {"partitions": partitions}}}
    )


def test_one_line_per_leader_change_and_none_while_a_new_leader_is_elected(caplog):
    noticed = LeaderLog("ingest")
    with caplog.at_level(logging.WARNING, "chirpstream.leaders"):
        noticed(stats(p0=1, p1=2))  # the first leaders seen: no change
        noticed(stats(p0=1, p1=2))
        noticed(stats(p0=-1, p1=2))  # broker 1 died; no leader known yet
        noticed(stats(p0=-1, p1=2))
        noticed(stats(p0=2, p1=2))
        noticed(stats(p0=2, p1=2))
        noticed(stats(p0=1, p1=2))  # a preferred leader election moved it back
    assert [r.getMessage() for r in caplog.records] == [
        "ingest: tweets[0] has a new leader: broker 2 (was 1)",
        "ingest: tweets[0] has a new leader: broker 1 (was 2)",
    ]
