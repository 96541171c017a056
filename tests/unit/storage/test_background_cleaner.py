"""The background cleaner: ``LogCleaner.poll`` runs a pass in a cleaner process, swaps it in
once done and writes ``cleaner-offset-checkpoint``; a cleaner process killed mid-pass is
noticed instead of waited for."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid

import pytest

from broker.storage import LogConfig, LogManager
from broker.storage.checkpoint import read_offsets
from broker.storage.cleaner import CLEANER_CHECKPOINT
from broker.storage.log_cleaner import LogCleaner
from tests.support.waiting import eventually
from tests.unit.storage.compaction import COMPACTED, records, write

KEY = ("latest", 0)


@pytest.fixture
def manager(tmp_path):
    logs = LogManager(tmp_path / "data")
    logs.load(lambda topic: COMPACTED)
    yield logs
    logs.close({})


def polled(cleaner: LogCleaner, until) -> None:
    def step():
        cleaner.poll(time.time_ns() // 1_000_000, {})
        return until()

    eventually(step, "the cleaner's pass", timeout=60)


def test_a_pass_runs_in_the_cleaner_process_and_is_checkpointed(manager):
    log = manager.create(*KEY, uuid.uuid4(), COMPACTED)
    write(log, [(b"k%d" % (i % 3), b"v%d" % i) for i in range(40)])
    cleaner = LogCleaner(manager, dedupe_buffer_size=1 << 20)
    try:
        polled(cleaner, lambda: KEY in read_offsets(manager.root / CLEANER_CHECKPOINT))
    finally:
        cleaner.close()
    active = log.segments[-1].base_offset
    assert read_offsets(manager.root / CLEANER_CHECKPOINT)[KEY] == active
    assert len([r for r in records(log) if r.offset < active]) == 3  # one per key


def test_a_cleaner_process_killed_mid_pass_is_noticed(manager):
    config = LogConfig(cleanup_policy="compact", segment_bytes=64 << 10)
    log = manager.create(*KEY, uuid.uuid4(), config)
    write(log, [(b"k%d" % (i % 500), os.urandom(100)) for i in range(30_000)])
    cleaner = LogCleaner(manager, dedupe_buffer_size=1 << 20)
    try:
        cleaner.poll(time.time_ns() // 1_000_000, {})
        eventually(
            lambda: any(p.name.endswith(".cleaned") for p in log.directory.iterdir()),
            "the cleaner process writing",
        )
        (cleaning,) = multiprocessing.active_children()
        os.kill(cleaning.pid, signal.SIGKILL)
        polled(cleaner, lambda: KEY in cleaner.uncleanable)
    finally:
        cleaner.close()
    assert not [p for p in log.directory.iterdir() if p.name.endswith(".cleaned")]
