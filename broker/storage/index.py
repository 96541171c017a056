"""A segment's sparse indexes, in Kafka's file formats, held in memory and appended to disk.

``<base>.index``: 8-byte big-endian entries ``int32 relativeOffset, int32 position``: the batch
whose base offset is ``base + relativeOffset`` starts at ``position`` in the ``.log``.

``<base>.timeindex``: 12-byte entries ``int64 timestamp, int32 relativeOffset``: the largest
batch timestamp so far in the segment, first reached by the batch whose base offset is
``base + relativeOffset``. Timestamps strictly increase from entry to entry.

Files hold exactly their entries (no pre-allocation). They carry no checksum: an index that
fails ``load``'s checks is rebuilt from the log. Entries added by an append are written with
one ``write`` per index by ``write_pending``.
"""

from __future__ import annotations

import errno
import operator
import os
import struct
import sys
from array import array
from bisect import bisect_right
from pathlib import Path
from typing import ClassVar

NO_TIMESTAMP = -1


def _increasing(values: array, strictly: bool = True) -> bool:
    compare = operator.lt if strictly else operator.le
    return all(map(compare, values, values[1:]))


class _IndexFile:
    """The file side of an index: pending entry bytes, appends, truncation. It holds no file
    descriptor: each write, fsync or truncation opens the file for as long as it takes (an
    index is written about once per ``index.interval.bytes`` of log), so a segment costs one
    descriptor, its ``.log``, as in Kafka."""

    ENTRY: ClassVar[struct.Struct]

    def __init__(self, path: Path, max_index_bytes: int, *, fresh: bool = False) -> None:
        self.path = path
        self.existed = path.exists() and not fresh
        if not self.existed:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        self._pending = bytearray()
        self.max_entries = max_index_bytes // self.ENTRY.size
        self.synced_size = path.stat().st_size if self.existed else 0  # durable at last fsync
        self._on_file = self.synced_size // self.ENTRY.size  # entries known written

    def resize(self, max_index_bytes: int) -> None:
        self.max_entries = max_index_bytes // self.ENTRY.size

    def _read(self) -> bytes | str:
        """The file's bytes, or a reason why they cannot be entries."""
        if not self.existed:
            return "missing"
        data = self.path.read_bytes()
        if len(data) % self.ENTRY.size:
            return f"size {len(data)} is not a multiple of {self.ENTRY.size}"
        return data

    def write_pending(self) -> None:
        if self._pending:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, self._pending)
            finally:
                os.close(fd)
            if written != len(self._pending):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
            self._on_file += written // self.ENTRY.size
            self._pending.clear()

    def _truncate_file(self, entries: int) -> None:
        self._pending.clear()
        os.truncate(self.path, entries * self.ENTRY.size)
        self._on_file = entries

    def restore(self, entries: int) -> None:
        """Undo the appends after the first ``entries`` entries, in memory and in the file
        (a failed append's clean-up); entries not yet on file stay pending. Subclasses
        provide ``_drop_from(i)`` and ``_entry(i)``."""
        self._drop_from(entries)
        keep = min(self._on_file, entries)
        if self.path.stat().st_size > keep * self.ENTRY.size:  # a write got partly through
            os.truncate(self.path, keep * self.ENTRY.size)
        self._on_file = keep
        self._pending = bytearray(b"".join(self._entry(i) for i in range(keep, entries)))

    def sync(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
            self.synced_size = os.fstat(fd).st_size
        finally:
            os.close(fd)


class OffsetIndex(_IndexFile):
    ENTRY = struct.Struct(">ii")

    def __init__(self, path: Path, max_index_bytes: int, *, fresh: bool = False) -> None:
        super().__init__(path, max_index_bytes, fresh=fresh)
        self.relative_offsets = array("i")
        self.positions = array("i")

    def __len__(self) -> int:
        return len(self.positions)

    def _entry(self, i: int) -> bytes:
        return self.ENTRY.pack(self.relative_offsets[i], self.positions[i])

    def _drop_from(self, i: int) -> None:
        del self.relative_offsets[i:]
        del self.positions[i:]

    @property
    def is_full(self) -> bool:
        return len(self.positions) >= self.max_entries

    def load(self, log_size: int) -> str | None:
        """Read the file; return why it is unusable, or None. An unusable index stays empty."""
        data = self._read()
        if isinstance(data, str):
            return data
        pairs = array("i", data)
        if sys.byteorder == "little":
            pairs.byteswap()
        offsets, positions = pairs[0::2], pairs[1::2]
        if offsets and (offsets[0] < 0 or positions[0] < 0):
            return "an entry is negative"
        if not (_increasing(offsets) and _increasing(positions)):
            return "entries are not increasing"
        if positions and positions[-1] >= log_size:
            return f"an entry points at position {positions[-1]}, past the log's end {log_size}"
        self.relative_offsets, self.positions = offsets, positions
        return None

    def append(self, relative_offset: int, position: int) -> None:
        self.relative_offsets.append(relative_offset)
        self.positions.append(position)
        self._pending += self.ENTRY.pack(relative_offset, position)

    def floor(self, relative_offset: int, position_limit: int = 2**31 - 1) -> tuple[int, int]:
        """The last entry at or below both limits, or ``(0, 0)``: the segment's start."""
        i = min(
            bisect_right(self.relative_offsets, relative_offset),
            bisect_right(self.positions, position_limit),
        )
        if i == 0:
            return 0, 0
        return self.relative_offsets[i - 1], self.positions[i - 1]

    def last(self) -> tuple[int, int]:
        if not self.positions:
            return 0, 0
        return self.relative_offsets[-1], self.positions[-1]

    def reset(self) -> None:
        self.truncate_to_position(0)

    def truncate_to_position(self, log_size: int) -> None:
        """Drop the entries that point at or past ``log_size``."""
        keep = bisect_right(self.positions, log_size - 1)
        del self.relative_offsets[keep:]
        del self.positions[keep:]
        self._truncate_file(keep)


class TimeIndex(_IndexFile):
    ENTRY = struct.Struct(">qi")

    def __init__(self, path: Path, max_index_bytes: int, *, fresh: bool = False) -> None:
        super().__init__(path, max_index_bytes, fresh=fresh)
        self.timestamps = array("q")
        self.relative_offsets = array("i")

    def __len__(self) -> int:
        return len(self.timestamps)

    def _entry(self, i: int) -> bytes:
        return self.ENTRY.pack(self.timestamps[i], self.relative_offsets[i])

    def _drop_from(self, i: int) -> None:
        del self.timestamps[i:]
        del self.relative_offsets[i:]

    @property
    def is_full(self) -> bool:
        return len(self.timestamps) >= self.max_entries

    @property
    def last_timestamp(self) -> int:
        return self.timestamps[-1] if self.timestamps else NO_TIMESTAMP

    def load(self, end_relative_offset: int) -> str | None:
        """Read the file; ``end_relative_offset`` is the segment's next offset minus its base."""
        data = self._read()
        if isinstance(data, str):
            return data
        entries = list(self.ENTRY.iter_unpack(data))
        timestamps = array("q", (entry[0] for entry in entries))
        offsets = array("i", (entry[1] for entry in entries))
        if offsets and offsets[0] < 0:
            return "an entry is negative"
        if not (_increasing(timestamps) and _increasing(offsets, strictly=False)):
            return "entries are not increasing"
        if offsets and offsets[-1] >= end_relative_offset:
            return f"an entry points at relative offset {offsets[-1]}, past the log's end"
        self.timestamps, self.relative_offsets = timestamps, offsets
        return None

    def append(self, timestamp: int, relative_offset: int) -> None:
        self.timestamps.append(timestamp)
        self.relative_offsets.append(relative_offset)
        self._pending += self.ENTRY.pack(timestamp, relative_offset)

    def floor(self, timestamp: int) -> int:
        """The relative offset of the last entry whose timestamp is <= ``timestamp``, else 0."""
        i = bisect_right(self.timestamps, timestamp)
        return self.relative_offsets[i - 1] if i else 0

    def last(self) -> tuple[int, int]:
        return self.timestamps[-1], self.relative_offsets[-1]

    def reset(self) -> None:
        self.truncate_to_offset(0)

    def truncate_to_offset(self, end_relative_offset: int) -> None:
        """Drop the entries at or past ``end_relative_offset``."""
        keep = bisect_right(self.relative_offsets, end_relative_offset - 1)
        del self.timestamps[keep:]
        del self.relative_offsets[keep:]
        self._truncate_file(keep)
