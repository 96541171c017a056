"""Committed offsets and groups survive a new coordinator over the same partitions."""

from __future__ import annotations

from kio.schema.errors import ErrorCode as E

from broker.groups import CommitEntry, CommittedOffset, GroupListing, SyncResult
from broker.groups.codec import GroupKey, GroupValue, MemberValue
from tests.unit.groups.support import (
    SESSION_MS,
    START_MS,
    Driver,
    ManualClock,
    reopen_partitions,
    run,
    settle,
)


def restarted(driver: Driver, partitions=None) -> Driver:
    """A new coordinator, loaded from ``partitions`` (the old driver's by default)."""
    fresh = Driver(partitions or driver.partitions, clock=ManualClock(driver.clock.now + 5000))
    fresh.coordinator.load()
    return fresh


def test_a_stable_group_comes_back_stable_for_its_heartbeating_members(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        driver.coordinator.commit("g", 1, a.member_id, None, [CommitEntry("tweets", 2, 40, 0, "")])
        before = driver.coordinator.describe("g")
        after = restarted(driver)
        coordinator = after.coordinator
        assert coordinator.describe("g") == before
        assert before.state_name == "Stable" and len(before.members) == 2
        for member in (a, b):
            assert coordinator.heartbeat("g", member.member_id, 1, None) is E.none
        assert await after.sync(b.member_id, 1) == SyncResult(
            E.none, "consumer", "range", f"1:{b.member_id}".encode()
        )
        assert coordinator.fetch("g", [("tweets", 2)]) == [CommittedOffset("tweets", 2, 40, 0, "")]
        # the stored leader still leads: its rejoin rebalances, a follower's does not
        assert (await after.join_now(b.member_id)).leader == a.member_id
        assert coordinator.describe("g").state_name == "Stable"
        after.join(a.member_id)
        await settle()
        assert coordinator.describe("g").state_name == "PreparingRebalance"

    run(scenario())


def test_restored_members_that_stay_silent_expire(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        after = restarted(driver)
        for _ in range(3):
            await after.advance(3000)
            assert after.coordinator.heartbeat("g", a.member_id, 1, None) is E.none
        await after.advance(SESSION_MS - 9000)  # b's fresh session timer runs out
        assert after.coordinator.heartbeat("g", a.member_id, 1, None) is E.rebalance_in_progress
        assert after.coordinator.heartbeat("g", b.member_id, 1, None) is E.unknown_member_id
        assert after.coordinator.describe("g").state_name == "PreparingRebalance"
        assert (await after.join_now(a.member_id)).generation_id == 2

    run(scenario())


def test_an_unfinished_rebalance_comes_back_as_the_last_stored_generation(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        driver.join(a.member_id)
        await driver.join_now(b.member_id)  # generation 2, never synced
        after = restarted(driver)
        assert after.coordinator.describe("g").state_name == "Stable"
        assert after.coordinator.heartbeat("g", a.member_id, 2, None) is E.illegal_generation
        assert after.coordinator.heartbeat("g", a.member_id, 1, None) is E.none

    run(scenario())


def test_empty_simple_and_deleted_groups_after_a_restart(driver):
    async def scenario():
        [a] = await driver.stable_group(1, group="left")
        driver.coordinator.leave("left", [(a.member_id, None)])
        entry = CommitEntry("tweets", 0, 3, -1, "")
        driver.coordinator.commit("simple", -1, "", None, [entry])
        driver.coordinator.commit("gone", -1, "", None, [entry])
        assert driver.coordinator.delete(["gone"]) == {"gone": E.none}
        after = restarted(driver)
        assert after.coordinator.list_groups() == [
            GroupListing("left", "consumer", "Empty"),
            GroupListing("simple", "", "Empty"),
        ]
        assert after.coordinator._groups["left"].generation == 2
        assert after.coordinator.fetch("gone", None) == []
        assert after.coordinator.fetch("simple", None) == [CommittedOffset("tweets", 0, 3, -1, "")]
        # an Empty group starts again from its stored generation
        rejoin = after.join(group="left")
        await after.advance(600)
        assert rejoin.result().generation_id == 3

    run(scenario())


def test_everything_survives_reopened_logs(driver, tmp_path):
    async def scenario():
        _, b = await driver.stable_group(2)
        driver.coordinator.commit("g", 1, b.member_id, None, [CommitEntry("t", 1, 11, 2, "m")])
        driver.coordinator.commit("x", -1, "", None, [CommitEntry("t", 0, 1, -1, "")])
        driver.coordinator.delete(["x"])
        reopened = reopen_partitions(tmp_path / "data", 3)  # as after a SIGKILL: no close
        try:
            after = restarted(driver, reopened)
            assert after.coordinator.describe("g") == driver.coordinator.describe("g")
            assert after.coordinator.fetch("g", None) == [CommittedOffset("t", 1, 11, 2, "m")]
            assert [g.group_id for g in after.coordinator.list_groups()] == ["g"]
            assert after.coordinator.heartbeat("g", b.member_id, 1, None) is E.none
        finally:
            for partition in reopened:
                partition.log.close()

    run(scenario())


def test_load_arms_one_session_timer_per_restored_member(driver):
    async def scenario():
        await driver.stable_group(3)
        after = restarted(driver)
        assert after.clock.live_timers == 3
        await after.advance(SESSION_MS)
        assert after.coordinator.describe("g").members == []

    run(scenario())


def test_the_stored_leader_leads_after_a_restart(driver):
    async def scenario():
        members = tuple(
            MemberValue(m, None, "c", "/h", 60_000, SESSION_MS, b"sub", b"") for m in ("m1", "m2")
        )
        value = GroupValue("consumer", 4, "range", "m2", START_MS, members)
        driver.store.write("g", [(GroupKey("g"), value)])
        driver.coordinator.load()
        answer = await driver.join_now("m1", protocols=[("range", b"sub")])
        assert (answer.generation_id, answer.leader, answer.members) == (4, "m2", [])

    run(scenario())
