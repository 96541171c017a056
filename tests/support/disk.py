"""Real disk faults and file surgery on a broker's data directory.

``power_cut`` emulates a power loss after a kill of a broker started with
``CHIRPSTREAM_FAULTS=fsync-marks``: each segment file goes back to the size its last fsync
recorded in ``<base>.fsynced``, and a segment never fsynced loses everything.

``small_tmpfs`` mounts a tmpfs of a few MiB, which ``fill`` makes full; ``ext4_image`` mounts
an ext4 loop filesystem that ``fail_read_only`` turns read-only the way a disk error does
(``errors=remount-ro``). Both need root: ``require_root`` skips a test, saying so, otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def require_root(what: str, *tools: str) -> None:
    """Skip the calling test unless this process may mount filesystems with ``tools``."""
    if os.geteuid() != 0:
        pytest.skip(f"{what} need root to mount a real faulty disk; run them as root")
    missing = [tool for tool in ("mount", "umount", *tools) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{what} need {', '.join(missing)} to make a real faulty disk")


@contextlib.contextmanager
def small_tmpfs(mount_point: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` at ``mount_point``, unmounted afterwards."""
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(mount_point)],
        check=True,
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write ``<directory>/filler`` until the disk is full; delete it to free the space."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk = b"\0" * 65536
    try:
        while chunk:
            try:
                os.write(fd, chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]  # top up the last partly free pages
    finally:
        os.close(fd)
    return filler


@contextlib.contextmanager
def ext4_image(image: Path, mount_point: Path, size_bytes: int) -> Iterator[Path]:
    """An ext4 filesystem in ``image``, loop-mounted at ``mount_point`` with
    ``errors=remount-ro``, unmounted afterwards."""
    with image.open("wb") as file:
        file.truncate(size_bytes)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-o", "loop,errors=remount-ro", str(image), str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fail_read_only(mount_point: Path) -> None:
    """Make ext4 report an error, so that it remounts itself read-only as a failing disk
    would: every later write, truncate or fsync fails with EROFS."""
    source = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE", str(mount_point)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(f"/sys/fs/ext4/{Path(source).name}/trigger_fs_error").write_text("chirpstream test\n")
