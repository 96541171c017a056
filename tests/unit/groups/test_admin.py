"""DescribeGroups, ListGroups and DeleteGroups."""

from __future__ import annotations

from kio.schema.errors import ErrorCode as E

from broker.groups import CommitEntry, CommittedOffset, GroupDescription, GroupListing
from broker.groups import MemberDescription as Member
from tests.unit.groups.support import run, settle

PROTOCOLS = [("roundrobin", b"rr-meta"), ("range", b"range-meta")]


def test_describe_an_unknown_group_says_dead_without_an_error(driver):
    assert driver.coordinator.describe("nope") == GroupDescription(
        E.none, "nope", "Dead", "", "", []
    )


def test_describe_shows_metadata_and_assignments_only_when_stable(driver):
    async def scenario():
        join = driver.join(client_id="w1", protocols=PROTOCOLS)
        await settle()
        preparing = driver.coordinator.describe("g")
        assert (preparing.state_name, preparing.protocol_type, preparing.protocol_name) == (
            "PreparingRebalance",
            "consumer",
            "",
        )
        await driver.advance(600)
        me = join.result().member_id
        bare = Member(me, None, "w1", "/127.0.0.1", b"", b"")
        assert driver.coordinator.describe("g") == GroupDescription(
            E.none, "g", "CompletingRebalance", "consumer", "", [bare]
        )
        await driver.sync(me, 1, {me: b"assigned"})
        assert driver.coordinator.describe("g") == GroupDescription(
            E.none,
            "g",
            "Stable",
            "consumer",
            "roundrobin",
            [Member(me, None, "w1", "/127.0.0.1", b"rr-meta", b"assigned")],
        )

    run(scenario())


def test_list_groups_filters_by_state_ignoring_case(driver):
    async def scenario():
        await driver.stable_group(1, group="b-stable")
        driver.join(group="a-preparing")
        await settle()
        driver.coordinator.commit("c-simple", -1, "", None, [CommitEntry("t", 0, 1, -1, "")])
        everything = [
            GroupListing("a-preparing", "consumer", "PreparingRebalance"),
            GroupListing("b-stable", "consumer", "Stable"),
            GroupListing("c-simple", "", "Empty"),
        ]
        assert driver.coordinator.list_groups() == everything
        assert driver.coordinator.list_groups(set()) == everything
        assert driver.coordinator.list_groups({"stable"}) == [everything[1]]
        assert driver.coordinator.list_groups({"EMPTY", "PreparingRebalance"}) == [
            everything[0],
            everything[2],
        ]
        assert driver.coordinator.list_groups({"Dead"}) == []

    run(scenario())


def test_delete_only_empty_groups(driver):
    async def scenario():
        await driver.stable_group(1, group="busy")
        commit = driver.coordinator.commit
        commit(
            "idle", -1, "", None, [CommitEntry("t", 0, 5, -1, ""), CommitEntry("t", 1, 6, -1, "")]
        )
        commit("kept", -1, "", None, [CommitEntry("t", 0, 9, -1, "")])
        assert driver.coordinator.delete(["busy", "idle", "missing", "idle"]) == {
            "busy": E.non_empty_group,
            "idle": E.none,  # named twice, answered once
            "missing": E.group_id_not_found,
        }
        assert driver.coordinator.describe("idle").state_name == "Dead"
        assert driver.coordinator.fetch("idle", None) == []
        assert driver.coordinator.fetch("kept", None) == [CommittedOffset("t", 0, 9, -1, "")]
        assert [g.group_id for g in driver.coordinator.list_groups()] == ["busy", "kept"]
        replayed = driver.store.replay()
        assert {key.group for key in replayed.offsets} == {"kept"}
        assert set(replayed.groups) == {"busy"}
        # the name is free again: a new group starts from generation 1
        fresh = driver.join(group="idle")
        await driver.advance(600)
        assert fresh.result().generation_id == 1

    run(scenario())


def test_deleting_an_empty_group_forgets_its_handed_out_member_ids(driver):
    async def scenario():
        handed = await driver.join_now(group="h", require_known_member_id=True)
        assert driver.clock.live_timers == 1
        assert driver.coordinator.delete(["h"]) == {"h": E.none}
        assert driver.clock.live_timers == 0
        late = await driver.join_now(handed.member_id, group="h")
        assert late.error_code is E.unknown_member_id

    run(scenario())


def test_a_failed_delete_keeps_the_group(driver, monkeypatch):
    driver.coordinator.commit("g", -1, "", None, [CommitEntry("t", 0, 5, -1, "")])

    def broken(*args):
        raise OSError(5, "Input/output error")

    for partition in driver.partitions:
        monkeypatch.setattr(partition.log, "append", broken)
    assert driver.coordinator.delete(["g"]) == {"g": E.not_coordinator}
    assert driver.coordinator.describe("g").state_name == "Empty"
    assert driver.coordinator.fetch("g", None) == [CommittedOffset("t", 0, 5, -1, "")]


def test_delete_after_close_is_refused(driver):
    driver.coordinator.commit("g", -1, "", None, [CommitEntry("t", 0, 5, -1, "")])
    driver.coordinator.close()
    assert driver.coordinator.delete(["g"]) == {"g": E.coordinator_not_available}
    assert driver.coordinator.commit("g", -1, "", None, [CommitEntry("t", 0, 6, -1, "")]) == [
        E.coordinator_not_available
    ]
