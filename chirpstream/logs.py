"""One log format for every chirpstream service, and librdkafka's log routed into it.

librdkafka writes its own lines to stderr, one per reconnect attempt: a client whose broker is
down prints a ``FAIL`` line a second, forever. ``librdkafka_logging(config)`` hands librdkafka
a Python logger instead (confluent-kafka's ``logger`` setting), so its lines share the format
and level of the service's own, and a filter lets through one line per change of a broker's
state: a repeat of the last line seen for that broker is dropped, and said again at most once
a minute with how many were dropped. confluent-kafka delivers these lines from ``poll()``,
``consume()`` and ``flush()``.

``leader_changes(config, name)`` adds what a client needs to log one line each time it notices
that a partition it uses has a new leader (a broker died, stopped or came back): librdkafka's
statistics, once a second, which carry the leader each partition's metadata names.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
REPEAT_AFTER_S = 60.0  # a state that lasts is said again this often, with the count dropped

_DIGITS = re.compile(r"\d+")
# "[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap: Connect to ... failed: ..."
_BROKER = re.compile(r"^\[thrd:[^\]]*\]: (?P<broker>[^ ]+?): ")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


class RepeatFilter(logging.Filter):
    """Drops a librdkafka line that repeats the last one let through for the same broker.

    Lines are compared with their numbers blanked (``after 0ms``, ``1 identical error(s)``),
    per client and broker, so a broker that stays down is one line, and one that goes down,
    comes back and goes down again is a line per change.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._last: dict[tuple[str, str], tuple[str, float, int]] = {}  # line, when, dropped

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) != 3:  # not confluent-kafka's ("%s [%s] %s", facility, client, text)
            return True
        facility, client, text = (str(arg) for arg in args)
        found = _BROKER.match(text)
        where = (client, found["broker"] if found else facility)
        shape = _DIGITS.sub("#", f"{facility} {text[found.end() if found else 0 :]}")
        now = self._clock()
        last = self._last.get(where)
        if last is not None and last[0] == shape and now - last[1] < REPEAT_AFTER_S:
            self._last[where] = (shape, last[1], last[2] + 1)
            return False
        dropped = last[2] if last is not None and last[0] == shape else 0
        if dropped:
            record.msg += f" ({dropped} repeats in the last {REPEAT_AFTER_S:.0f} s not shown)"
        self._last[where] = (shape, now, 0)
        return True


_LIBRDKAFKA = logging.getLogger("chirpstream.librdkafka")
_LIBRDKAFKA.addFilter(RepeatFilter())


def librdkafka_logging(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` plus the logger that routes librdkafka's log through Python logging.

    With ``debug`` set (``-X debug=broker``) librdkafka keeps writing to stderr itself, so
    every debug line the user asked for shows, unfiltered.
    """
    if "debug" in config:
        return dict(config)
    return {**config, "logger": _LIBRDKAFKA}


STATS_INTERVAL_MS = 1000  # how soon a leader change is noticed (librdkafka's statistics)
_LEADERS = logging.getLogger("chirpstream.leaders")


class LeaderLog:
    """A librdkafka ``stats_cb``: one line per partition whose known leader changed since the
    last statistics (an unknown leader, -1, while a new one is elected, is not a change)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._leaders: dict[tuple[str, int], int] = {}

    def __call__(self, stats_json: str) -> None:
        for topic, stats in json.loads(stats_json).get("topics", {}).items():
            for key, partition in stats.get("partitions", {}).items():
                index, leader = int(key), partition.get("leader", -1)
                if index < 0 or leader < 0:
                    continue
                before = self._leaders.get((topic, index))
                self._leaders[topic, index] = leader
                if before is not None and before != leader:
                    _LEADERS.warning(
                        "%s: %s[%d] has a new leader: broker %d (was %d)",
                        self._name, topic, index, leader, before,
                    )  # fmt: skip


def leader_changes(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``config`` plus a ``LeaderLog`` named ``name`` fed by librdkafka's statistics (every
    ``STATS_INTERVAL_MS`` unless ``statistics.interval.ms`` is given)."""
    return {"statistics.interval.ms": STATS_INTERVAL_MS, **config, "stats_cb": LeaderLog(name)}
