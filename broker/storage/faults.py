"""Named crash points and fsync marks for reliability tests, armed by ``CHIRPSTREAM_FAULTS``.

The variable is a comma-separated list, read once at import:

- ``append``, ``roll``, ``checkpoint``: SIGKILL the broker at that point, the first time it is
  reached; ``roll@5`` waits for the fifth time. ``append`` first writes half of the batch (a
  torn write); ``roll`` fires once the new, empty segment exists, before the log uses it;
  ``checkpoint`` fires when a state file's ``.tmp`` is written and fsynced, before the rename.
- ``clean-write``, ``clean-swap``, ``clean-replace``: the log cleaner's (see ``cleaner`` and
  ``swap``). ``clean-write`` fires in the cleaner process once part of a ``.cleaned`` segment
  is written, and kills the broker with it; ``clean-swap`` once a cleaned segment's files
  are renamed to ``.swap``; ``clean-replace`` once the segments it replaces are deleted,
  before the ``.swap`` files take their final names.
- ``fsync-marks``: after every segment fsync, record the synced sizes of its ``.log``,
  ``.index`` and ``.timeindex`` in ``<base>.fsynced`` (JSON). A test emulates a power loss
  by cutting each file back to its mark (to nothing when it has none).

Unset, ``ARMED`` is empty and ``RECORD_FSYNCS`` false: call sites test only those.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

ENV = "CHIRPSTREAM_FAULTS"
POINTS = ("append", "roll", "checkpoint")
ADMIN_POINTS = ("create-topic", "delete-topic")
CLEANER_POINTS = ("clean-write", "clean-swap", "clean-replace")
_ALL_POINTS = POINTS + ADMIN_POINTS + CLEANER_POINTS
FSYNC_MARKS = "fsync-marks"
MARK_SUFFIX = ".fsynced"


def parse(text: str) -> tuple[dict[str, int], bool]:
    """``(armed points with the pass each fires on, whether fsync marks are recorded)``."""
    armed: dict[str, int] = {}
    marks = False
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("@")
        if name == FSYNC_MARKS and not count:
            marks = True
        elif name in _ALL_POINTS and (not count or (count.isdigit() and int(count) > 0)):
            armed[name] = int(count or 1)
        else:
            raise ValueError(
                f"{ENV}: unknown fault {item!r}; use {', '.join(_ALL_POINTS)} "
                f"(optionally with @<pass>) or {FSYNC_MARKS}"
            )
    return armed, marks


ARMED, RECORD_FSYNCS = parse(os.environ.get(ENV, ""))


def fires(point: str) -> bool:
    """Count a pass through ``point``; True on the pass it is armed for."""
    left = ARMED.get(point)
    if left is None:
        return False
    ARMED[point] = left - 1
    return left == 1


def crash(point: str, *, from_child: bool = False) -> NoReturn:
    """Say which point fired (on stderr, the broker's log) and SIGKILL this process; with
    ``from_child`` (the cleaner process) the broker, its parent, is killed first."""
    broker = os.getppid() if from_child else os.getpid()
    sys.stderr.write(f"FAULT {point}: killing the broker (pid {broker})\n")
    sys.stderr.flush()
    if from_child:
        os.kill(broker, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit(137)  # not reached: SIGKILL cannot be handled


def reached(point: str) -> None:
    """A crash point with nothing to do first."""
    if fires(point):
        crash(point)


def record_fsync(stem: Path, sizes: dict[str, int]) -> None:
    """Write ``<stem>.fsynced``: file suffix to synced size. Replaced whole, so a kill leaves
    the old marks or the new ones."""
    mark = stem.with_name(stem.name + MARK_SUFFIX)
    tmp = mark.with_name(mark.name + ".tmp")
    tmp.write_text(json.dumps(sizes))
    os.replace(tmp, mark)
