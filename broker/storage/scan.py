"""Reading a whole segment with bounded memory.

Recovery and the producer-state rebuild walk segment files through a read-only ``mmap``. Every
page they touch counts towards the broker's resident memory until it is unmapped, so a 1 GB
segment would cost 1 GB of RSS. ``ScannedFile`` maps the file once and lets go of the pages
behind the reader every ``WINDOW`` bytes (``MADV_DONTNEED``: the page cache keeps them, the
process no longer holds them), so peak RSS stays near one window whatever the log's size.
"""

from __future__ import annotations

import mmap

WINDOW = 16 * 1024 * 1024  # a multiple of every page size


class ScannedFile:
    """A read-only map of ``size`` bytes of ``fd``; call ``advance(position)`` as you go."""

    def __init__(self, fd: int, size: int) -> None:
        self.view = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        self._released = 0

    def advance(self, position: int) -> None:
        """The reader is at ``position``: release the whole windows before it."""
        if position - self._released >= WINDOW:
            end = position - position % WINDOW
            self.view.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            self._released = end

    def __enter__(self) -> ScannedFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.view.close()
