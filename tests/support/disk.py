"""File surgery on a stopped broker's data directory: power-loss cuts and damaged bytes.

``power_cut`` emulates a power loss after a kill of a broker started with
``CHIRPSTREAM_FAULTS=fsync-marks``: each segment file goes back to the size its last fsync
recorded in ``<base>.fsynced``, and a segment never fsynced loses everything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from broker.storage.faults import MARK_SUFFIX

SEGMENT_SUFFIXES = (".log", ".index", ".timeindex")


def segments(partition_dir: Path) -> list[Path]:
    """The ``.log`` files of one partition directory, oldest first."""
    return sorted(partition_dir.glob("*.log"))


def power_cut(data_dir: Path) -> dict[str, int]:
    """Cut every segment file back to its last fsynced size; returns the bytes cut per file."""
    cut: dict[str, int] = {}
    for log_file in data_dir.glob("*/*.log"):
        stem = log_file.with_suffix("")
        mark = stem.with_name(stem.name + MARK_SUFFIX)
        synced = json.loads(mark.read_text()) if mark.exists() else {}
        for suffix in SEGMENT_SUFFIXES:
            path = stem.with_suffix(suffix)
            if path.exists():
                size = path.stat().st_size
                keep = min(size, synced.get(suffix, 0))
                if keep < size:
                    os.truncate(path, keep)
                    cut[f"{path.parent.name}/{path.name}"] = size - keep
    return cut


def flip_byte(path: Path, position: int) -> None:
    with path.open("r+b") as file:
        file.seek(position)
        byte = file.read(1)[0]
        file.seek(position)
        file.write(bytes([byte ^ 0x10]))
