"""The cleaner's segment files on their way into a log, named and renamed as Kafka does.

A cleaning pass writes each new segment as ``<base>.log.cleaned`` with ``<base>.index.cleaned``
and ``<base>.timeindex.cleaned``, and fsyncs them. Each one then replaces the old segments
whose offsets it covers in three durable steps:

1. its files are renamed ``.cleaned`` -> ``.swap``, the ``.log`` last (``to_swap``);
2. the old segments' files are deleted;
3. its files are renamed ``.swap`` -> their final names, the ``.log`` last (``from_swap``).

``complete``, run when a log loads, finishes or forgets an interrupted replacement: ``.cleaned``
files are deleted (the pass never reached step 1), so are ``.swap`` indexes without their
``.log.swap``; a ``<base>.log.swap`` takes the place of every segment whose base offset lies
in its offset range, then gets its final name. A crash at any point therefore leaves either
all the old segments or the new one, never a mix. A new segment's offsets are exactly those of
the segments it replaces (the cleaner leaves no gap), so its range is read from its own
batch headers.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from broker.protocol.batch import HEADER, HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2
from broker.storage.checkpoint import fsync_directory
from broker.storage.segment import segment_path

log = logging.getLogger("broker.storage")

CLEANED = ".cleaned"
SWAP = ".swap"
KINDS = (".index", ".timeindex", ".log")  # the .log last: its name says the step is done
_SEGMENT_FILE = re.compile(r"(\d{20})(\.log|\.index|\.timeindex)")
_SWAP_LOG = re.compile(r"(\d{20})\.log\.swap")


def rename(directory: Path, base_offset: int, old: str, new: str) -> None:
    """Rename a segment's three files from suffix ``old`` to ``new``, the ``.log`` last, and
    make the renames durable."""
    for kind in KINDS:
        os.rename(
            segment_path(directory, base_offset, kind, old),
            segment_path(directory, base_offset, kind, new),
        )
    fsync_directory(directory)


def discard(directory: Path, base_offset: int, suffix: str) -> None:
    """Delete a segment's files that carry ``suffix`` (a pass that will not be swapped in)."""
    for kind in KINDS:
        segment_path(directory, base_offset, kind, suffix).unlink(missing_ok=True)


def complete(directory: Path, name: str) -> None:
    """Finish or forget the replacements a crash interrupted (see the module's docstring)."""
    names = [path.name for path in directory.iterdir()]
    swaps = sorted(int(m[1]) for n in names if (m := _SWAP_LOG.fullmatch(n)))
    for file_name in names:
        leftover = file_name.endswith(CLEANED) or (
            file_name.endswith(SWAP) and int(file_name[:20]) not in swaps
        )
        if leftover:
            (directory / file_name).unlink()
            log.info("%s: removed %s, left by an interrupted log cleaning", name, file_name)
    for base in swaps:
        end = _end_offset(segment_path(directory, base, ".log", SWAP), base)
        bases = {int(m[1]) for n in names if (m := _SEGMENT_FILE.fullmatch(n))}
        replaced = sorted(b for b in bases if base <= b < end)
        for old in replaced:
            for kind in KINDS:
                segment_path(directory, old, kind).unlink(missing_ok=True)
        for kind in KINDS:
            swapped = segment_path(directory, base, kind, SWAP)
            if swapped.exists():
                os.rename(swapped, segment_path(directory, base, kind))
        fsync_directory(directory)
        log.warning(
            "%s: completed an interrupted log cleaning: the cleaned segment %s (offsets %d to "
            "%d) replaces %d old segment(s)",
            name,
            segment_path(directory, base, ".log").name,
            base,
            end - 1,
            len(replaced),
        )


def _end_offset(path: Path, base_offset: int) -> int:
    """One past the last offset of the whole batches in ``path`` (fsynced before its rename,
    so whole unless the disk lost it)."""
    end = base_offset
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        position = 0
        while position + HEADER_SIZE <= size:
            fields = HEADER.unpack(os.pread(fd, HEADER_SIZE, position))
            batch_size = LOG_OVERHEAD + fields[1]
            if (
                fields[3] != MAGIC_V2
                or fields[1] < HEADER_SIZE - LOG_OVERHEAD
                or fields[6] < 0
                or position + batch_size > size
            ):
                break
            end = fields[0] + fields[6] + 1
            position += batch_size
    finally:
        os.close(fd)
    return end
