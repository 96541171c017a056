"""OffsetCommit and OffsetFetch."""

from __future__ import annotations

from kio.schema.errors import ErrorCode as E

from broker.groups import CommitEntry, CommittedOffset, GroupListing, OffsetStore
from broker.groups.codec import OffsetKey, OffsetValue
from tests.unit.groups.support import START_MS, run


def entry(partition: int, offset: int, metadata: str | None = "", epoch: int = 0) -> CommitEntry:
    return CommitEntry("tweets", partition, offset, epoch, metadata)


def test_simple_consumer_commits_create_an_empty_group(driver):
    coordinator = driver.coordinator
    assert coordinator.commit("manual", -1, "", None, [entry(0, 10), entry(3, 7, None)]) == [
        E.none,
        E.none,
    ]
    assert coordinator.list_groups() == [GroupListing("manual", "", "Empty", "classic")]
    assert coordinator.fetch("manual", None) == [
        CommittedOffset("tweets", 0, 10, 0, ""),
        CommittedOffset("tweets", 3, 7, 0, ""),
    ]


def test_commits_to_a_missing_group_with_a_generation_are_refused(driver):
    errors = driver.coordinator.commit("ghost", 3, "m", None, [entry(0, 1), entry(1, 1)])
    assert errors == [E.illegal_generation, E.illegal_generation]
    assert driver.coordinator.list_groups() == []
    assert driver.coordinator.fetch("ghost", None) == []


def test_fetch_answers_never_committed_partitions_with_minus_one(driver):
    driver.coordinator.commit("g", -1, "", None, [entry(1, 42, "note", epoch=5)])
    asked = [("tweets", 0), ("tweets", 1), ("other", 1)]
    assert driver.coordinator.fetch("g", asked) == [
        CommittedOffset("tweets", 0, -1, -1, ""),
        CommittedOffset("tweets", 1, 42, 5, "note"),
        CommittedOffset("other", 1, -1, -1, ""),
    ]
    assert driver.coordinator.fetch("unknown", [("tweets", 0)]) == [
        CommittedOffset("tweets", 0, -1, -1, "")
    ]


def test_later_commits_replace_earlier_ones(driver):
    driver.coordinator.commit("g", -1, "", None, [entry(0, 1), entry(1, 1)])
    driver.coordinator.commit("g", -1, "", None, [entry(1, 9, "x")])
    assert driver.coordinator.fetch("g", None) == [
        CommittedOffset("tweets", 0, 1, 0, ""),
        CommittedOffset("tweets", 1, 9, 0, "x"),
    ]


def test_members_commit_in_their_generation(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        commit = driver.coordinator.commit
        assert commit("g", 1, a.member_id, None, [entry(0, 5)]) == [E.none]
        assert commit("g", 0, a.member_id, None, [entry(0, 6)]) == [E.illegal_generation]
        assert commit("g", 1, "stranger", None, [entry(0, 6)]) == [E.unknown_member_id]
        assert commit("g", -1, "", None, [entry(0, 6)]) == [E.unknown_member_id]  # not Empty
        assert commit("g", -1, a.member_id, None, [entry(0, 6)]) == [E.illegal_generation]
        assert driver.coordinator.fetch("g", [("tweets", 0)])[0].offset == 5
        # CompletingRebalance: the member knows the new generation but has no assignment
        rejoin = driver.join(a.member_id)
        await driver.join_now(b.member_id)
        assert rejoin.result().generation_id == 2
        assert commit("g", 2, b.member_id, None, [entry(0, 7)]) == [E.rebalance_in_progress]
        assert commit("g", 1, b.member_id, None, [entry(0, 7)]) == [E.illegal_generation]

    run(scenario())


def test_simple_commits_are_allowed_again_once_the_group_is_empty(driver):
    async def scenario():
        [a] = await driver.stable_group(1)
        driver.coordinator.leave("g", [(a.member_id, None)])
        assert driver.coordinator.commit("g", -1, "", None, [entry(0, 3)]) == [E.none]

    run(scenario())


def test_commits_keep_a_member_alive(driver):
    async def scenario():
        [a] = await driver.stable_group(1)
        for offset in range(8):  # 40 s without a heartbeat, committing every 5 s
            await driver.advance(5000)
            assert driver.coordinator.commit("g", 1, a.member_id, None, [entry(0, offset)]) == [
                E.none
            ]
        assert driver.coordinator.heartbeat("g", a.member_id, 1, None) is E.none

    run(scenario())


def test_metadata_over_the_limit_fails_only_its_entry(driver):
    limit = "x" * 4096
    emoji = "\U0001f600" * 2048  # 4096 UTF-16 code units, as Java's String.length() counts
    errors = driver.coordinator.commit(
        "g", -1, "", None, [entry(0, 1, limit), entry(1, 1, limit + "x"), entry(2, 1, emoji)]
    )
    assert errors == [E.none, E.offset_metadata_too_large, E.none]
    errors = driver.coordinator.commit("g", -1, "", None, [entry(2, 2, emoji + "x")])
    assert errors == [E.offset_metadata_too_large]
    assert [c.offset for c in driver.coordinator.fetch("g", [("tweets", p) for p in range(3)])] == [
        1,
        -1,
        1,
    ]


def test_commits_are_in_the_log_when_commit_returns(driver):
    driver.clock.advance(1234)
    driver.coordinator.commit("g", -1, "", None, [entry(0, 77, "m", epoch=4)])
    # a fresh reader of the same partitions, without any close or flush in between
    replayed = OffsetStore(driver.partitions, driver.clock.now_ms).replay()
    assert replayed.offsets == {
        OffsetKey("g", "tweets", 0): OffsetValue(77, 4, "m", START_MS + 1234)
    }


def test_a_failed_write_commits_nothing(driver, monkeypatch):
    driver.coordinator.commit("g", -1, "", None, [entry(0, 1)])

    def broken(*args):
        raise OSError(28, "No space left on device")

    for partition in driver.partitions:
        monkeypatch.setattr(partition.log, "append", broken)
    errors = driver.coordinator.commit("g", -1, "", None, [entry(0, 2), entry(1, 2, "x" * 5000)])
    assert errors == [E.not_coordinator, E.offset_metadata_too_large]
    assert driver.coordinator.fetch("g", None) == [CommittedOffset("tweets", 0, 1, 0, "")]


def test_an_empty_commit_writes_nothing(driver):
    assert driver.coordinator.commit("g", -1, "", None, []) == []
    assert sum(p.high_watermark for p in driver.partitions) == 0
