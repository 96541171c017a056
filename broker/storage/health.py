"""Whether the data directory takes writes: one ERROR line when writes start failing (a full or
read-only disk), one more when the reason changes, one INFO line when a write works again.

Every partition log under a root shares that root's ``DiskHealth`` (``DiskHealth.of``), so a
full disk is reported once, not once per partition or per request. A disk that flaps (a nearly
full one takes small writes and refuses big ones) is reported once per ``REPEAT_AFTER_S`` for
the same reason, not at every turn.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import ClassVar

from broker.storage.errors import StorageError

log = logging.getLogger("broker.storage")

REPEAT_AFTER_S = 60.0

_ADVICE = {
    "No space left on device": "free space on that disk",
    "Read-only file system": "remount that disk read-write and restart the broker",
    "Too many open files": "raise the broker's open-file limit (ulimit -n)",
}


class DiskHealth:
    _by_root: ClassVar[dict[Path, DiskHealth]] = {}

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problem: str | None = None  # the OS's reason the last write failed
        self._reported: str | None = None  # the problem the log last said, if it said it
        self._said: dict[str, float] = {}  # reason: when the log last said it

    @classmethod
    def of(cls, root: Path) -> DiskHealth:
        """The one ``DiskHealth`` of the data directory ``root``."""
        root = Path(root).resolve()
        health = cls._by_root.get(root)
        if health is None:
            health = cls._by_root[root] = cls(root)
        return health

    def failed(self, what: str, err: OSError) -> StorageError:
        """Note that ``what`` (e.g. ``append to tweets-0``) failed with ``err``; return the
        StorageError to raise, its message one line for the client."""
        reason = os.strerror(err.errno) if err.errno else str(err)
        now = time.monotonic()
        if (
            reason != self.problem
            and now - self._said.get(reason, -REPEAT_AFTER_S) >= REPEAT_AFTER_S
        ):
            self._said[reason] = now
            self._reported = reason
            log.error(
                "data directory %s: cannot %s: %s; produce requests get KAFKA_STORAGE_ERROR "
                "and reads go on until writes work again (%s)",
                self.root,
                what,
                reason,
                _ADVICE.get(reason, "check the disk"),
            )
        self.problem = reason
        return StorageError(f"cannot {what}: {reason}")

    def succeeded(self) -> None:
        """A write worked: say so if writes were failing."""
        if self.problem is not None:
            if self._reported == self.problem:
                log.info(
                    "data directory %s: writes work again (%s cleared)", self.root, self.problem
                )
            self.problem = self._reported = None
