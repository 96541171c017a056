import logging
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from broker.storage import LogConfig, LogManager, StorageError
from tests.unit.storage.record_batches import make_batch, produce

HERE = Path(__file__).parent
REPO = HERE.parents[2]
CONFIG = LogConfig(segment_bytes=400)
TP = ("tweets", 0)
DASHED = ("tweet-stats-v2", 3)


def config_for(topic: str) -> LogConfig:
    return CONFIG


def crash_after(root: Path, body: str) -> None:
    """Run ``body`` in a broker-like process that then dies by SIGKILL (no close)."""
    script = (
        textwrap.dedent(
            """
        import os, signal, sys, uuid
        from pathlib import Path
        from broker.storage import LogConfig, LogManager
        from tests.unit.storage.record_batches import make_batch, produce
        manager = LogManager(Path(sys.argv[1]))
        manager.load(lambda topic: LogConfig(segment_bytes=400))
        """
        )
        + textwrap.dedent(body)
        + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{HERE}"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(root)], env=env, capture_output=True, timeout=60
    )
    assert result.returncode == -9, result.stderr.decode()


def test_clean_restart_keeps_offsets_and_high_watermarks(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="broker.storage")
    manager = LogManager(tmp_path)
    assert manager.load(config_for) == {}
    tweets = manager.create(*TP, uuid.uuid4(), CONFIG)
    stats = manager.create(*DASHED, uuid.uuid4(), CONFIG)
    for _ in range(10):
        produce(tweets, make_batch(3, record_bytes=20))
    produce(stats, make_batch(2))
    tweets.advance_log_start(4)
    manager.close({TP: 27, DASHED: 2})
    assert (tmp_path / ".kafka_cleanshutdown").exists()
    assert (tmp_path / "replication-offset-checkpoint").read_text() == (
        "0\n2\ntweets 0 27\ntweet-stats-v2 3 2\n"
    )
    assert (tmp_path / "recovery-point-offset-checkpoint").read_text() == (
        "0\n2\ntweets 0 30\ntweet-stats-v2 3 2\n"
    )
    assert (tmp_path / "log-start-offset-checkpoint").read_text() == (
        "0\n2\ntweets 0 4\ntweet-stats-v2 3 0\n"
    )

    caplog.clear()
    again = LogManager(tmp_path)
    logs = again.load(config_for)
    assert not (tmp_path / ".kafka_cleanshutdown").exists()
    assert sorted(logs) == [DASHED, TP]
    assert (logs[TP].log_start_offset, logs[TP].log_end_offset) == (4, 30)
    assert logs[DASHED].log_end_offset == 2
    assert again.high_watermarks() == {TP: 27, DASHED: 2}
    assert "previous shutdown clean" in caplog.text
    assert "recovered" not in caplog.text
    assert produce(logs[TP], make_batch(1)) == 30
    again.close({})


def test_unclean_restart_recovers_writes_made_after_the_last_checkpoint(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="broker.storage")
    crash_after(
        tmp_path,
        """
        log = manager.create("tweets", 0, uuid.uuid4(), LogConfig(segment_bytes=400))
        for _ in range(5):
            produce(log, make_batch(3, record_bytes=20))
        log.advance_log_start(2)
        manager.checkpoint({("tweets", 0): 9})
        for _ in range(5):
            produce(log, make_batch(3, record_bytes=20))
        """,
    )
    assert not (tmp_path / ".kafka_cleanshutdown").exists()
    manager = LogManager(tmp_path)  # the dead process's lock is gone
    log = manager.load(config_for)[TP]
    assert (log.log_start_offset, log.log_end_offset) == (2, 30)
    assert manager.high_watermarks() == {TP: 9}
    assert "previous shutdown unclean" in caplog.text
    assert "recovered" in caplog.text
    assert produce(log, make_batch(1)) == 30
    manager.close({TP: 31})


def test_unclean_restart_with_a_torn_tail_clamps_the_high_watermark(tmp_path):
    crash_after(
        tmp_path,
        """
        log = manager.create("tweets", 0, uuid.uuid4(), LogConfig(segment_bytes=400))
        for _ in range(4):
            produce(log, make_batch(3, record_bytes=20))
        manager.checkpoint({("tweets", 0): 12})
        """,
    )
    active = max((tmp_path / "tweets-0").glob("*.log"))
    active.write_bytes(active.read_bytes()[:-10])
    manager = LogManager(tmp_path)
    log = manager.load(config_for)[TP]
    assert log.log_end_offset == 9
    assert manager.high_watermarks() == {TP: 9}
    assert produce(log, make_batch(1)) == 9
    manager.close({})


def test_a_second_manager_on_the_same_root_is_refused(tmp_path):
    first = LogManager(tmp_path)
    with pytest.raises(StorageError) as caught:
        LogManager(tmp_path)
    message = str(caught.value)
    assert "in use by another broker" in message
    assert str(tmp_path / ".lock") in message
    assert "\n" not in message
    first.close({})
    LogManager(tmp_path).close({})


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("under-a-file", "cannot create data directory {root}: Not a directory"),
        ("is-a-file", "cannot use data directory {root}: it exists and is not a directory"),
    ],
)
def test_an_unusable_root_is_one_clear_error(tmp_path, kind, message):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    root = blocker / "data" if kind == "under-a-file" else blocker
    with pytest.raises(StorageError) as caught:
        LogManager(root)
    assert str(caught.value) == message.format(root=root)


def test_delete_renames_then_removes_and_leftovers_are_cleaned(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="broker.storage")
    manager = LogManager(tmp_path)
    manager.load(config_for)
    manager.create(*TP, uuid.uuid4(), CONFIG)
    manager.create("other", 1, uuid.uuid4(), CONFIG)
    with pytest.raises(StorageError, match="already exists"):
        manager.create(*TP, uuid.uuid4(), CONFIG)
    manager.delete(*TP)
    assert not (tmp_path / "tweets-0").exists()
    assert manager.get(*TP) is None
    manager.close({})
    # a crash mid-delete (or mid-create) leaves a *-delete directory; stray entries stay
    (tmp_path / "tweets-0.0123456789abcdef0123456789abcdef-delete").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "README").write_text("hello")
    again = LogManager(tmp_path)
    assert sorted(again.load(config_for)) == [("other", 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".lock",
        "README",
        "log-start-offset-checkpoint",
        "notes",
        "other-1",
        "recovery-point-offset-checkpoint",
        "replication-offset-checkpoint",
    ]
    assert "left by an interrupted delete" in caplog.text
    again.close({})


def test_load_asks_for_each_topics_config(tmp_path):
    manager = LogManager(tmp_path)
    manager.create("a-b", 0, uuid.uuid4(), CONFIG)
    manager.close({})
    asked = []
    small = LogConfig(segment_bytes=100)
    again = LogManager(tmp_path)
    log = again.load(lambda topic: asked.append(topic) or small)[("a-b", 0)]
    assert asked == ["a-b"]
    assert log.config is small
    again.close({})


def test_retention_and_flush_passes(tmp_path):
    manager = LogManager(tmp_path)
    config = LogConfig(segment_bytes=100, retention_ms=1_000, flush_ms=500)
    log = manager.create(*TP, uuid.uuid4(), config)
    for stamp in (1_000, 2_000, 3_000):
        produce(log, make_batch(1, record_bytes=100, timestamp=stamp), now_ms=stamp)
    assert log.recovery_point == 2
    manager.flush_pass(3_499)
    assert log.recovery_point == 2
    manager.flush_pass(3_500)
    assert log.recovery_point == 3
    assert manager.retention_pass(3_500, {TP: 3}) == 2
    assert log.log_start_offset == 2
    manager.close({TP: 3})


def test_the_metadata_log_directory_is_left_to_the_raft_runtime(tmp_path):
    raft_dir = tmp_path / "__cluster_metadata-0"
    raft_dir.mkdir()
    (raft_dir / "quorum-state").write_text("{}")
    manager = LogManager(tmp_path)
    assert manager.load(lambda name: LogConfig(), known=lambda key, topic_id: False) == {}
    assert (raft_dir / "quorum-state").read_text() == "{}"
    manager.close({})
