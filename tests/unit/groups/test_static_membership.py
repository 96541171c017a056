"""Static membership (KIP-345): a restarted instance takes its old place without a rebalance."""

from __future__ import annotations

from kio.schema.errors import ErrorCode as E

from broker.groups import JoinMember, JoinResult, SyncResult
from tests.unit.groups.support import SESSION_MS, Driver, run

RR_FIRST = [("roundrobin", b"rr-subscription"), ("range", b"range-subscription")]


def describe(driver: Driver) -> tuple[str, list[tuple[str, str | None]]]:
    description = driver.coordinator.describe("g")
    members = [(m.member_id, m.group_instance_id) for m in description.members]
    return description.state_name, members


def test_a_static_follower_restarting_gets_its_assignment_back_without_a_rebalance(driver):
    async def scenario():
        leader, follower = await driver.stable_group(2, instance_ids=[None, "worker-b"])
        old_assignment = (await driver.sync(follower.member_id, 1)).assignment

        # The process restarts: no LeaveGroup, a join with no member id, same instance id.
        rejoined = await driver.join_now(client_id="c1", instance_id="worker-b")
        new_id = rejoined.member_id
        assert new_id != follower.member_id
        assert rejoined == JoinResult(E.none, 1, "consumer", "range", leader.member_id, new_id, [])
        assert describe(driver) == ("Stable", [(leader.member_id, None), (new_id, "worker-b")])
        synced = await driver.sync(new_id, 1, instance_id="worker-b")
        assert synced == SyncResult(E.none, "consumer", "range", old_assignment)
        # The other member sees no rebalance; the old member id is fenced.
        assert driver.coordinator.heartbeat("g", leader.member_id, 1, None) is E.none
        fenced = driver.coordinator.heartbeat("g", follower.member_id, 1, "worker-b")
        assert fenced is E.fenced_instance_id
        commit = driver.coordinator.commit("g", 1, follower.member_id, "worker-b", [])
        assert commit == []
        assert driver.coordinator.heartbeat("g", new_id, 1, "worker-b") is E.none

    run(scenario())


def test_a_restarted_static_leader_skips_the_assignor_from_v9_and_is_a_follower_before(driver):
    async def scenario():
        _, follower = await driver.stable_group(2, instance_ids=["lead", None])
        v9 = await driver.join_now(
            client_id="c0", instance_id="lead", supports_skip_assignment=True
        )
        assert v9.leader == v9.member_id and v9.skip_assignment
        assert v9.members == [
            JoinMember(v9.member_id, "lead", b"range-subscription"),
            JoinMember(follower.member_id, None, b"range-subscription"),
        ]
        older = await driver.join_now(client_id="c0", instance_id="lead")
        # Kafka answers the leader id it had, so an old client does not run the assignor.
        assert (older.leader, older.members, older.skip_assignment) == (v9.member_id, [], False)
        assert older.generation_id == 1 and describe(driver)[0] == "Stable"

    run(scenario())


def test_a_static_member_needs_no_member_id_round_trip(driver):
    async def scenario():
        join = driver.join(instance_id="only", require_known_member_id=True)
        await driver.advance(1000)
        result = join.result()
        assert result.error_code is E.none and result.member_id.startswith("client-")

    run(scenario())


def test_a_static_member_that_stays_away_is_removed_when_its_session_times_out(driver):
    async def scenario():
        leader, _ = await driver.stable_group(2, instance_ids=[None, "gone"])
        await driver.advance(SESSION_MS - 1)
        assert driver.coordinator.heartbeat("g", leader.member_id, 1, None) is E.none
        await driver.advance(1)
        assert describe(driver) == ("PreparingRebalance", [(leader.member_id, None)])

    run(scenario())


def test_a_static_member_rejoining_with_another_protocol_choice_rebalances(driver):
    async def scenario():
        await driver.stable_group(1, instance_ids=["solo"])
        join = driver.join(client_id="c0", instance_id="solo", protocols=RR_FIRST)
        await driver.advance(1)
        assert join.done() and join.result().generation_id == 2
        assert join.result().protocol_name == "roundrobin"

    run(scenario())


def test_a_static_member_can_leave_by_instance_id_alone(driver):
    async def scenario():
        leader, _ = await driver.stable_group(2, instance_ids=[None, "b"])
        wrong = driver.coordinator.leave("g", [("someone-else", "b")])
        assert wrong.members[0].error_code is E.fenced_instance_id
        left = driver.coordinator.leave("g", [("", "b")])
        assert left.members[0].error_code is E.none
        assert describe(driver) == ("PreparingRebalance", [(leader.member_id, None)])

    run(scenario())


def test_a_static_member_not_yet_back_is_kept_through_a_rebalance(driver):
    async def scenario():
        leader, follower = await driver.stable_group(2, instance_ids=[None, "slow"])
        rejoin = driver.join(leader.member_id, client_id="c0", protocols=RR_FIRST)
        for _ in range(6):  # "slow" stays alive (heartbeats) but never rejoins in time
            await driver.advance(9000)
            beat = driver.coordinator.heartbeat("g", follower.member_id, 1, "slow")
            assert beat is E.rebalance_in_progress
        await driver.advance(6000)  # the 60 s rebalance timeout
        result = rejoin.result()
        assert result.generation_id == 2
        assert [m.member_id for m in result.members] == [leader.member_id, follower.member_id]

    run(scenario())
