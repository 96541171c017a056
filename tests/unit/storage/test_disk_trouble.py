"""Background writes that the disk refuses (checkpoints here, blocked by a directory where
the checkpoint's ``.tmp`` must go: a real EISDIR) are reported once, not per pass, never
raised into the broker's duty loop, and reported again when they work; a close that cannot
write says so with StorageError after closing every file and releasing the lock."""

import logging
import uuid

import pytest

from broker.storage import LogConfig, LogManager, StorageError
from broker.storage.manager import (
    CLEAN_SHUTDOWN_MARKER,
    HIGH_WATERMARK_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
)
from tests.unit.storage.record_batches import make_batch, produce


@pytest.fixture
def manager(tmp_path):
    manager = LogManager(tmp_path / "data")
    manager.load(lambda topic: LogConfig())
    produce(manager.create("tweets", 0, uuid.uuid4(), LogConfig()), make_batch(3))
    return manager


def test_a_refused_checkpoint_is_reported_once_and_again_when_it_works(manager, caplog):
    blocker = manager.root / f"{RECOVERY_POINT_CHECKPOINT}.tmp"
    blocker.mkdir()
    with caplog.at_level(logging.INFO, logger="broker.storage"):
        for _ in range(3):
            manager.checkpoint({("tweets", 0): 3})  # the duty's passes: none raises
        blocker.rmdir()
        manager.checkpoint({("tweets", 0): 3})
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "cannot write the offset checkpoints: Is a directory" in messages[0]
    assert "writes work again" in messages[1]
    assert (manager.root / HIGH_WATERMARK_CHECKPOINT).read_text().endswith("tweets 0 3\n")
    manager.close({})


def test_a_close_that_cannot_write_raises_after_releasing_everything(manager, tmp_path):
    blocker = manager.root / f"{RECOVERY_POINT_CHECKPOINT}.tmp"
    blocker.mkdir()
    with pytest.raises(StorageError, match=r"could not shut down cleanly: .*Is a directory"):
        manager.close({})
    assert not (manager.root / CLEAN_SHUTDOWN_MARKER).exists()  # the next start recovers
    blocker.rmdir()
    again = LogManager(manager.root)  # the lock was released
    logs = again.load(lambda topic: LogConfig())
    assert logs[("tweets", 0)].log_end_offset == 3
    again.close({})


def test_a_flapping_disk_is_reported_once_a_while(manager, caplog):
    blocker = manager.root / f"{RECOVERY_POINT_CHECKPOINT}.tmp"
    with caplog.at_level(logging.INFO, logger="broker.storage"):
        for _ in range(5):  # refused, then taken, five times over
            blocker.mkdir()
            manager.checkpoint({})
            blocker.rmdir()
            manager.checkpoint({})
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages  # one ERROR, one "work again", not ten lines
    manager.close({})
