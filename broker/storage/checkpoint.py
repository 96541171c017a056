"""Kafka's small text state files, written atomically.

Offset checkpoints (``recovery-point-offset-checkpoint``, ``log-start-offset-checkpoint``,
``replication-offset-checkpoint``) hold a version line ``0``, a count line, then one
``topic partition offset`` line per partition. A ``leader-epoch-checkpoint`` has the same
shape with ``epoch startOffset`` lines. ``partition.metadata`` holds ``version: 0`` and
``topic_id: <id>``, the id in Kafka's base64 url-safe form without padding.

Every write goes to ``<name>.tmp``, is fsynced, renamed over the old file, and the directory
is fsynced: a crash leaves the old file or the new one, never a torn one.
"""

from __future__ import annotations

import base64
import contextlib
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from broker.storage import faults
from broker.storage.errors import StorageError

VERSION = 0
PARTITION_METADATA = "partition.metadata"
LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"


def fsync_directory(directory: Path) -> None:
    """Make renames, creations and deletions inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    except OSError:
        with contextlib.suppress(OSError):  # a full disk: leave no half-written .tmp behind
            tmp.unlink(missing_ok=True)
        raise
    if faults.ARMED:
        faults.reached("checkpoint")
    os.replace(tmp, path)
    fsync_directory(path.parent)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise StorageError(f"cannot read {path}: it is not text ({err.reason})") from err


def _read_lines(path: Path, fields_per_line: int, shape: str) -> list[list[str]] | None:
    """The entry lines of a versioned, counted checkpoint split into fields; None if absent."""
    try:
        lines = _read_text(path).splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 2 or lines[0].strip() != str(VERSION) or not lines[1].strip().isdigit():
        raise StorageError(f"checkpoint {path} is malformed: expected version {VERSION}, a count")
    count = int(lines[1])
    entries = [line.split() for line in lines[2:] if line.strip()]
    if len(entries) != count:
        raise StorageError(f"checkpoint {path} promises {count} entries but holds {len(entries)}")
    for number, entry in enumerate(entries, start=3):
        if len(entry) != fields_per_line or not all(_is_int(f) for f in entry[-2:]):
            raise StorageError(f"checkpoint {path} line {number} is not '{shape}': {entry}")
    return entries


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _format(entries: list[str]) -> str:
    return "".join(f"{line}\n" for line in [str(VERSION), str(len(entries)), *entries])


def read_offsets(path: Path) -> dict[tuple[str, int], int]:
    """An offset checkpoint as ``{(topic, partition): offset}``; empty when the file is absent."""
    entries = _read_lines(path, 3, "topic partition offset") or []
    return {(topic, int(partition)): int(offset) for topic, partition, offset in entries}


def write_offsets(path: Path, offsets: Mapping[tuple[str, int], int]) -> None:
    lines = [f"{topic} {partition} {offset}" for (topic, partition), offset in offsets.items()]
    write_atomically(path, _format(lines))


def read_epochs(path: Path) -> list[tuple[int, int]]:
    """A leader-epoch checkpoint as ``[(epoch, start_offset)]``; empty when absent."""
    entries = _read_lines(path, 2, "epoch startOffset") or []
    return [(int(epoch), int(start)) for epoch, start in entries]


def write_epochs(path: Path, epochs: Iterable[tuple[int, int]]) -> None:
    write_atomically(path, _format([f"{epoch} {start}" for epoch, start in epochs]))


def topic_id_to_str(topic_id: uuid.UUID) -> str:
    """Kafka's ``Uuid.toString()``: url-safe base64 of the 16 bytes, without padding."""
    return base64.urlsafe_b64encode(topic_id.bytes).rstrip(b"=").decode("ascii")


def topic_id_from_str(text: str) -> uuid.UUID:
    """Parse Kafka's base64 form (or, leniently, the usual hex form)."""
    if len(text) == 22:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))
    return uuid.UUID(text)


def read_topic_id(directory: Path) -> uuid.UUID:
    path = directory / PARTITION_METADATA
    try:
        lines = _read_text(path).splitlines()
    except FileNotFoundError as err:
        raise StorageError(f"{path} is missing: the partition's topic id is unknown") from err
    values = dict(line.split(": ", 1) for line in lines if ": " in line)
    try:
        if values.get("version") != str(VERSION):
            raise ValueError(f"unsupported version {values.get('version')!r}")
        return topic_id_from_str(values["topic_id"].strip())
    except (KeyError, ValueError) as err:
        raise StorageError(f"{path} is malformed ({err}); expected 'topic_id: <id>'") from err


def write_topic_id(directory: Path, topic_id: uuid.UUID) -> None:
    text = f"version: {VERSION}\ntopic_id: {topic_id_to_str(topic_id)}\n"
    write_atomically(directory / PARTITION_METADATA, text)
