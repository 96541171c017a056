"""``__consumer_offsets`` is compacted (cleanup.policy=compact, as in Kafka): after the log
cleaner has kept only each key's latest record, a coordinator loading the partitions afresh
still finds every group's latest committed offsets, and deleted ones stay deleted."""

from __future__ import annotations

from broker.groups import CommitEntry
from broker.storage import LogConfig
from tests.unit.groups.support import Driver, ManualClock, make_partitions, reopen_partitions
from tests.unit.storage.compaction import compact

OFFSETS_CONFIG = LogConfig(
    cleanup_policy="compact", segment_bytes=1024, min_cleanable_dirty_ratio=0.01
)


def test_latest_offsets_load_from_a_compacted_offsets_topic(tmp_path):
    partitions = make_partitions(tmp_path / "data", 1, OFFSETS_CONFIG)
    driver = Driver(partitions)
    coordinator = driver.coordinator
    for rounds in range(40):
        entries = [CommitEntry("tweets", p, rounds * 10 + p, 0, "") for p in range(4)]
        entries.append(CommitEntry("gone", 0, rounds, 0, ""))
        coordinator.commit("g", -1, "", None, entries)
    coordinator.remove_offsets(lambda topic: topic == "tweets")  # tombstones for "gone"
    for rounds in range(40, 60):  # pushes the tombstones out of the active segment
        coordinator.commit("g", -1, "", None, [CommitEntry("tweets", 0, rounds, 0, "")])
    before = coordinator.fetch("g", None)
    assert [c.topic for c in before] == ["tweets"] * 4

    log = partitions[0].log
    grown = log.size_bytes
    assert compact(log, now_ms=driver.clock.now) is not None
    assert log.size_bytes < grown / 4, "the offsets partition did not shrink"
    for partition in partitions:
        partition.log.close()

    reopened = reopen_partitions(tmp_path / "data", 1)
    try:
        fresh = Driver(reopened, clock=ManualClock(driver.clock.now + 5000))
        fresh.coordinator.load()
        assert fresh.coordinator.fetch("g", None) == before
    finally:
        for partition in reopened:
            partition.log.close()
