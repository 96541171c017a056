"""JoinGroup, SyncGroup, Heartbeat, LeaveGroup and session expiry, with Kafka's answers."""

from __future__ import annotations

import asyncio
import uuid

from kio.schema.errors import ErrorCode as E

from broker.groups import (
    CommitEntry,
    GroupCoordinator,
    GroupSettings,
    JoinMember,
    JoinResult,
    OffsetStore,
    SyncResult,
)
from tests.unit.groups.support import SESSION_MS, Driver, run, settle

DELAY = GroupSettings().initial_rebalance_delay_ms
RR = [("roundrobin", b"rr-subscription")]


def state(driver: Driver, group: str = "g") -> str:
    return driver.coordinator.describe(group).state_name


def member_ids(driver: Driver, group: str = "g") -> list[str]:
    return [m.member_id for m in driver.coordinator.describe(group).members]


def test_a_single_member_joins_syncs_and_is_stable(driver):
    async def scenario():
        join = driver.join(client_id="worker")
        await driver.advance(DELAY - 1)
        assert not join.done() and state(driver) == "PreparingRebalance"
        await driver.advance(1)
        result = join.result()
        me = result.member_id
        assert me.startswith("worker-") and uuid.UUID(me.removeprefix("worker-"))
        assert result == JoinResult(
            E.none, 1, "consumer", "range", me, me, [JoinMember(me, None, b"range-subscription")]
        )
        assert state(driver) == "CompletingRebalance"
        synced = await driver.sync(me, 1, {me: b"all six partitions"})
        assert synced == SyncResult(E.none, "consumer", "range", b"all six partitions")
        description = driver.coordinator.describe("g")
        assert (description.state_name, description.protocol_type) == ("Stable", "consumer")
        assert description.protocol_name == "range"
        [member] = description.members
        assert (member.member_id, member.client_id, member.client_host) == (
            me,
            "worker",
            "/127.0.0.1",
        )
        assert (member.metadata, member.assignment) == (
            b"range-subscription",
            b"all six partitions",
        )
        assert driver.coordinator.heartbeat("g", me, 1, None) is E.none
        # a sync in Stable returns the current assignment
        again = await driver.sync(me, 1, protocol_name="range")
        assert again == SyncResult(E.none, "consumer", "range", b"all six partitions")

    run(scenario())


def test_member_id_required_then_rejoin_with_the_given_id(driver):
    async def scenario():
        first = await driver.join_now(client_id="rdkafka", require_known_member_id=True)
        assert first.error_code is E.member_id_required
        assert first.member_id.startswith("rdkafka-")
        assert (first.generation_id, first.leader, first.members) == (-1, "", [])
        assert (first.protocol_type, first.protocol_name) == (None, None)
        assert state(driver) == "Empty" and member_ids(driver) == []
        join = driver.join(first.member_id, require_known_member_id=True)
        await driver.advance(DELAY)
        result = join.result()
        assert (result.error_code, result.member_id, result.leader) == (
            E.none,
            first.member_id,
            first.member_id,
        )
        assert result.generation_id == 1

    run(scenario())


def test_an_unused_member_id_expires_after_the_session_timeout(driver):
    async def scenario():
        handed = await driver.join_now(require_known_member_id=True, session_timeout_ms=7000)
        await driver.advance(6999)
        await driver.advance(1)
        late = await driver.join_now(handed.member_id, require_known_member_id=True)
        assert (late.error_code, late.member_id) == (E.unknown_member_id, handed.member_id)

    run(scenario())


def test_a_handed_out_member_id_holds_up_a_rebalance_until_it_joins_or_expires(driver):
    async def scenario():
        [leader] = await driver.stable_group(1)
        handed = await driver.join_now(require_known_member_id=True)
        rejoin = driver.join(leader.member_id)  # the leader rejoining starts a rebalance
        await driver.advance(SESSION_MS - 1)
        assert not rejoin.done()
        await driver.advance(1)  # the handed-out id expires: everyone known has joined
        assert (rejoin.result().error_code, rejoin.result().generation_id) == (E.none, 2)
        assert handed.member_id not in member_ids(driver)

    run(scenario())


def test_three_members_within_the_initial_delay_get_one_generation(driver):
    async def scenario():
        joins = [driver.join(client_id="first")]
        await driver.advance(100)
        joins.append(driver.join(client_id="second"))
        await driver.advance(100)
        joins.append(driver.join(client_id="third"))
        await driver.advance(DELAY)  # t=500: the delay was extended at t=300
        assert not any(j.done() for j in joins)
        await driver.advance(100)  # t=600: no one new in the second delay
        results = [j.result() for j in joins]
        ids = [r.member_id for r in results]
        assert {r.error_code for r in results} == {E.none}
        assert {r.generation_id for r in results} == {1}
        assert {r.leader for r in results} == {ids[0]}  # the first joiner leads
        assert [m.member_id for m in results[0].members] == ids
        assert results[1].members == results[2].members == []

    run(scenario())


def test_each_new_joiner_extends_the_initial_delay(driver):
    async def scenario():
        joins = [driver.join()]
        for _ in range(2):
            await driver.advance(250)
            joins.append(driver.join())  # t=250, t=500: each inside the current delay
        await driver.advance(399)  # t=899
        assert not any(j.done() for j in joins)
        await driver.advance(1)  # t=900
        assert {j.result().generation_id for j in joins} == {1}

    run(scenario())


def test_the_initial_delay_is_capped_by_the_rebalance_timeout(driver):
    async def scenario():
        joins = []
        for pause in (200, 200, 250, 49):  # joins at t=0, 200, 400, 650: one in every delay
            joins.append(driver.join(rebalance_timeout_ms=700))
            await driver.advance(pause)
        assert not any(j.done() for j in joins)  # t=699
        await driver.advance(1)  # t=700: 300 + 300 + 100, the rebalance timeout
        results = [j.result() for j in joins]
        assert {r.generation_id for r in results} == {1}
        assert len(results[0].members) == 4

    run(scenario())


def test_a_new_member_triggers_a_rebalance_the_others_learn_by_heartbeat(driver):
    async def scenario():
        a, b, c = await driver.stable_group(3)
        newcomer = driver.join(client_id="fourth")
        await settle()
        assert state(driver) == "PreparingRebalance" and not newcomer.done()
        for old in (a, b, c):
            assert (
                driver.coordinator.heartbeat("g", old.member_id, 1, None) is E.rebalance_in_progress
            )
        # the old generation may still commit while the group prepares (Kafka)
        entry = CommitEntry("tweets", 0, 5, 0, "")
        assert driver.coordinator.commit("g", 1, a.member_id, None, [entry]) == [E.none]
        assert (await driver.sync(a.member_id, 1)).error_code is E.rebalance_in_progress
        rejoins = [driver.join(old.member_id) for old in (b, c)]
        await settle()
        assert not any(r.done() for r in rejoins)
        rejoins.append(driver.join(a.member_id))
        await settle()  # the last known member is in: no timer needed
        results = [newcomer.result(), *(r.result() for r in rejoins)]
        assert {r.generation_id for r in results} == {2}
        assert {r.leader for r in results} == {a.member_id}  # the old leader rejoined: kept
        leader = next(r for r in results if r.member_id == a.member_id)
        assert {m.member_id for m in leader.members} == {r.member_id for r in results}
        assert sum(bool(r.members) for r in results) == 1
        assert state(driver) == "CompletingRebalance"

    run(scenario())


def test_session_expiry_removes_a_member_and_rebalances_the_rest(driver):
    async def scenario():
        a, b, c = await driver.stable_group(3)
        for _ in range(3):
            await driver.advance(3000)
            assert driver.coordinator.heartbeat("g", a.member_id, 1, None) is E.none
            assert driver.coordinator.heartbeat("g", b.member_id, 1, None) is E.none
        await driver.advance(SESSION_MS - 9000)  # c has been silent for its session timeout
        assert state(driver) == "PreparingRebalance"
        assert c.member_id not in member_ids(driver)
        assert driver.coordinator.heartbeat("g", c.member_id, 1, None) is E.unknown_member_id
        assert driver.coordinator.heartbeat("g", a.member_id, 1, None) is E.rebalance_in_progress
        rejoins = [driver.join(a.member_id), driver.join(b.member_id)]
        await settle()
        assert [r.result().generation_id for r in rejoins] == [2, 2]
        assert member_ids(driver) == [a.member_id, b.member_id]

    run(scenario())


def test_the_expiry_of_the_last_missing_member_completes_the_join(driver):
    async def scenario():
        a, b, _ = await driver.stable_group(3)
        rejoins = [driver.join(a.member_id), driver.join(b.member_id)]
        await driver.advance(SESSION_MS - 1)
        assert not any(r.done() for r in rejoins)  # c may still rejoin
        await driver.advance(1)  # c's session times out long before the rebalance timeout
        assert [r.result().generation_id for r in rejoins] == [2, 2]
        assert member_ids(driver) == [a.member_id, b.member_id]

    run(scenario())


def test_members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout(driver):
    async def scenario():
        a, b = await driver.stable_group(2)  # rebalance timeouts of 60 s
        rejoin = driver.join(a.member_id, rebalance_timeout_ms=30_000)  # the max counts
        for _ in range(20):  # b keeps heartbeating but never rejoins
            await driver.advance(2999)
            heartbeat = driver.coordinator.heartbeat("g", b.member_id, 1, None)
            assert heartbeat is E.rebalance_in_progress
        await driver.advance(19)
        assert not rejoin.done()
        await driver.advance(1)  # t = 60 000: the group's rebalance timeout
        assert (rejoin.result().generation_id, member_ids(driver)) == (2, [a.member_id])
        assert driver.coordinator.heartbeat("g", b.member_id, 1, None) is E.unknown_member_id

    run(scenario())


def test_a_new_member_parked_for_five_minutes_is_dropped(driver):
    async def scenario():
        [old] = await driver.stable_group(1)
        newcomer = driver.join(client_id="patient", rebalance_timeout_ms=600_000)
        await settle()
        for _ in range(100):  # the old member heartbeats but does not rejoin
            await driver.advance(2999)
            driver.coordinator.heartbeat("g", old.member_id, 1, None)
        await driver.advance(99)
        assert not newcomer.done()
        await driver.advance(1)  # five minutes after it joined
        result = newcomer.result()
        assert (result.error_code, result.member_id) == (E.unknown_member_id, "")
        assert member_ids(driver) == [old.member_id]

    run(scenario())


def test_a_single_member_leaves(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        left = driver.coordinator.leave("g", [(b.member_id, None)])
        assert (left.error_code, [tuple(m) for m in left.members]) == (
            E.none,
            [(b.member_id, None, E.none)],
        )
        assert driver.coordinator.heartbeat("g", a.member_id, 1, None) is E.rebalance_in_progress
        result = await driver.join_now(a.member_id)
        assert (result.generation_id, [m.member_id for m in result.members]) == (2, [a.member_id])

    run(scenario())


def test_a_batched_leave_answers_each_member_and_passes_on_the_lead(driver):
    async def scenario():
        a, b, c = await driver.stable_group(3)
        left = driver.coordinator.leave(
            "g", [(a.member_id, None), (b.member_id, "b-1"), ("nobody", None), ("", "i-1")]
        )
        assert left.error_code is E.none
        assert [tuple(m) for m in left.members] == [
            (a.member_id, None, E.none),
            (b.member_id, "b-1", E.none),
            ("nobody", None, E.unknown_member_id),
            ("", "i-1", E.unknown_member_id),
        ]
        result = await driver.join_now(c.member_id)
        assert (result.generation_id, result.leader) == (2, c.member_id)

    run(scenario())


def test_when_every_member_leaves_the_group_is_empty_in_a_new_generation(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        driver.coordinator.leave("g", [(a.member_id, None), (b.member_id, None)])
        assert state(driver) == "Empty" and member_ids(driver) == []
        assert driver.coordinator._groups["g"].generation == 2

    run(scenario())


def test_leave_errors(driver):
    async def scenario():
        assert driver.coordinator.leave("", [("m", None)]) == (E.invalid_group_id, [])
        unknown = driver.coordinator.leave("nope", [("m", None)])
        assert (unknown.error_code, [m.error_code for m in unknown.members]) == (
            E.none,
            [E.unknown_member_id],
        )
        handed = await driver.join_now(require_known_member_id=True)
        assert (
            driver.coordinator.leave("g", [(handed.member_id, None)]).members[0].error_code
            is E.none
        )
        late = await driver.join_now(handed.member_id)
        assert late.error_code is E.unknown_member_id

    run(scenario())


def test_a_parked_join_of_a_member_removed_meanwhile_is_answered_unknown_member(driver):
    async def scenario():
        a, _ = await driver.stable_group(2)
        parked = driver.join(a.member_id)
        await settle()
        assert not parked.done()
        driver.coordinator.leave("g", [(a.member_id, None)])
        await settle()
        assert (parked.result().error_code, parked.result().member_id) == (E.unknown_member_id, "")

    run(scenario())


def test_stale_and_unknown_members_on_heartbeat_and_sync(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        hb = driver.coordinator.heartbeat
        assert hb("", a.member_id, 1, None) is E.invalid_group_id
        assert hb("other", a.member_id, 1, None) is E.unknown_member_id
        assert hb("g", "stranger", 1, None) is E.unknown_member_id
        assert hb("g", a.member_id, 0, None) is E.illegal_generation
        assert hb("g", a.member_id, 2, None) is E.illegal_generation
        failures = {
            "no group id": driver.sync(a.member_id, 1, group=""),
            "other group": driver.sync(a.member_id, 1, group="other"),
            "stranger": driver.sync("stranger", 1),
            "stale": driver.sync(a.member_id, 0),
            "type": driver.sync(a.member_id, 1, protocol_type="connect"),
            "name": driver.sync(a.member_id, 1, protocol_name="roundrobin"),
        }
        await settle()
        assert {k: t.result() for k, t in failures.items()} == {
            "no group id": SyncResult(E.invalid_group_id, None, None, b""),
            "other group": SyncResult(E.unknown_member_id, None, None, b""),
            "stranger": SyncResult(E.unknown_member_id, None, None, b""),
            "stale": SyncResult(E.illegal_generation, None, None, b""),
            "type": SyncResult(E.inconsistent_group_protocol, None, None, b""),
            "name": SyncResult(E.inconsistent_group_protocol, None, None, b""),
        }
        # before v5 no protocol fields are sent
        ok = await driver.sync(b.member_id, 1, protocol_type=None, protocol_name=None)
        assert ok == SyncResult(E.none, "consumer", "range", f"1:{b.member_id}".encode())

    run(scenario())


def test_join_errors(driver):
    async def scenario():
        bad_session = [5999, 1_800_001]
        for timeout in bad_session:
            result = await driver.join_now("m", session_timeout_ms=timeout)
            assert (result.error_code, result.member_id) == (E.invalid_session_timeout, "m")
        assert (await driver.join_now(group="")).error_code is E.invalid_group_id
        assert (await driver.join_now("ghost")).error_code is E.unknown_member_id
        no_type = await driver.join_now(protocol_type="")
        assert no_type.error_code is E.inconsistent_group_protocol
        no_protocols = await driver.join_now(protocols=[])
        assert no_protocols.error_code is E.inconsistent_group_protocol
        assert driver.coordinator.list_groups() == []  # failed joins leave no group behind
        [a] = await driver.stable_group(1)
        assert (await driver.join_now("ghost")).error_code is E.unknown_member_id
        other_type = await driver.join_now(protocol_type="connect")
        assert (other_type.error_code, other_type.member_id) == (E.inconsistent_group_protocol, "")
        unsupported = await driver.join_now(a.member_id, protocols=RR)
        assert (unsupported.error_code, unsupported.member_id) == (
            E.inconsistent_group_protocol,
            a.member_id,
        )
        assert state(driver) == "Stable"

    run(scenario())


def test_protocol_vote_among_protocols_every_member_supports(driver):
    async def scenario():
        joins = [
            driver.join(protocols=[("roundrobin", b"a-rr"), ("range", b"a-range")]),
            driver.join(protocols=[("roundrobin", b"b-rr"), ("range", b"b-range")]),
            driver.join(protocols=[("range", b"c-range"), ("roundrobin", b"c-rr")]),
        ]
        await driver.advance(2 * DELAY)
        results = [j.result() for j in joins]
        assert {r.protocol_name for r in results} == {"roundrobin"}  # two votes to one
        assert [m.metadata for m in results[0].members] == [b"a-rr", b"b-rr", b"c-rr"]
        # a member offering only something nobody else supports is turned away
        sticky = await driver.join_now(protocols=[("sticky", b"")])
        assert sticky.error_code is E.inconsistent_group_protocol

    run(scenario())


def test_protocol_vote_only_counts_protocols_all_members_support(driver):
    async def scenario():
        joins = [
            driver.join(protocols=[("roundrobin", b""), ("range", b"")]),
            driver.join(protocols=[("roundrobin", b""), ("range", b"")]),
            driver.join(protocols=[("range", b""), ("sticky", b"")]),
        ]
        await driver.advance(2 * DELAY)
        assert {j.result().protocol_name for j in joins} == {"range"}

    run(scenario())


def test_a_tied_vote_goes_to_the_protocol_voted_first(driver):
    async def scenario():
        joins = [
            driver.join(protocols=[("roundrobin", b""), ("range", b"")]),
            driver.join(protocols=[("range", b""), ("roundrobin", b"")]),
        ]
        await driver.advance(2 * DELAY)
        assert {j.result().protocol_name for j in joins} == {"roundrobin"}

    run(scenario())


def test_followers_sync_waits_for_the_leader(driver):
    async def scenario():
        joins = [driver.join(), driver.join()]
        await driver.advance(2 * DELAY)
        leader, follower = (j.result() for j in joins)
        assert leader.members and not follower.members
        waiting = driver.sync(follower.member_id, 1)
        await driver.advance(5000)
        assert not waiting.done()
        assert driver.coordinator.heartbeat("g", follower.member_id, 1, None) is E.none
        # the leader leaves the follower out: it gets an empty assignment
        mine = await driver.sync(leader.member_id, 1, {leader.member_id: b"0-5"})
        await settle()
        assert mine == SyncResult(E.none, "consumer", "range", b"0-5")
        assert waiting.result() == SyncResult(E.none, "consumer", "range", b"")
        assert state(driver) == "Stable"

    run(scenario())


def test_a_parked_sync_restarts_the_session_when_answered(driver):
    async def scenario():
        joins = [driver.join(), driver.join()]
        await driver.advance(2 * DELAY)
        leader, follower = (j.result() for j in joins)
        waiting = driver.sync(follower.member_id, 1)
        for _ in range(6):  # the leader takes 18 s to sync, heartbeating meanwhile
            await driver.advance(3000)
            driver.coordinator.heartbeat("g", leader.member_id, 1, None)
        await driver.sync(leader.member_id, 1, {follower.member_id: b"f"})
        assert waiting.result().assignment == b"f"
        await driver.advance(SESSION_MS - 1)  # a full session from the answer, not before
        assert driver.coordinator.heartbeat("g", follower.member_id, 1, None) is E.none

    run(scenario())


def test_a_parked_sync_of_a_member_that_leaves_is_answered_unknown_member(driver):
    async def scenario():
        joins = [driver.join(), driver.join()]
        await driver.advance(2 * DELAY)
        _, follower = (j.result() for j in joins)
        waiting = driver.sync(follower.member_id, 1)
        await settle()
        driver.coordinator.leave("g", [(follower.member_id, None)])
        await settle()
        assert waiting.result() == SyncResult(E.unknown_member_id, None, None, b"")

    run(scenario())


def test_joins_during_completing_rebalance(driver):
    async def scenario():
        joins = [driver.join(), driver.join()]
        await driver.advance(2 * DELAY)
        leader, follower = (j.result() for j in joins)
        # a member that lost its join response asks again: the same answer
        assert await driver.join_now(leader.member_id) == leader
        assert await driver.join_now(follower.member_id) == follower
        waiting = driver.sync(follower.member_id, 1)
        await settle()
        # new metadata restarts the rebalance: parked syncs must rejoin
        changed = driver.join(follower.member_id, protocols=[("range", b"new topics")])
        await settle()
        assert waiting.result() == SyncResult(E.rebalance_in_progress, None, None, b"")
        assert state(driver) == "PreparingRebalance" and not changed.done()
        again = await driver.join_now(leader.member_id)
        assert again.generation_id == 2 and changed.result().generation_id == 2
        assert [m.metadata for m in again.members] == [b"range-subscription", b"new topics"]

    run(scenario())


def test_rejoins_in_stable(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        same = await driver.join_now(b.member_id)  # a follower with unchanged metadata
        assert same == JoinResult(E.none, 1, "consumer", "range", a.member_id, b.member_id, [])
        assert state(driver) == "Stable"
        driver.join(a.member_id)  # the leader rejoining forces a rebalance (Kafka)
        await settle()
        assert state(driver) == "PreparingRebalance"

    run(scenario())


def test_a_second_join_supersedes_a_parked_one(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        first = driver.join(a.member_id)
        await settle()
        second = driver.join(a.member_id)
        await settle()
        assert first.result().error_code is E.rebalance_in_progress
        assert not second.done()
        await driver.join_now(b.member_id)
        assert second.result().generation_id == 2

    run(scenario())


def test_a_cancelled_join_leaves_the_group_consistent(driver):
    async def scenario():
        a_join, b_join = driver.join(), driver.join()
        await settle()
        b_join.cancel()  # b's connection dies while its join is parked
        await driver.advance(2 * DELAY)
        a = a_join.result()
        assert len(a.members) == 2  # b is still in the generation, like a lost response
        b_id = next(m.member_id for m in a.members if m.member_id != a.member_id)
        await driver.sync(a.member_id, 1, {a.member_id: b"x", b_id: b"y"})
        assert state(driver) == "Stable"
        for _ in range(4):  # a heartbeats; b is never heard from again
            await driver.advance(3000)
            driver.coordinator.heartbeat("g", a.member_id, 1, None)
        assert member_ids(driver) == [a.member_id] and state(driver) == "PreparingRebalance"
        rejoined = await driver.join_now(a.member_id)
        assert (rejoined.generation_id, len(rejoined.members)) == (2, 1)

    run(scenario())


def test_a_cancelled_sync_leaves_the_group_consistent(driver):
    async def scenario():
        joins = [driver.join(), driver.join()]
        await driver.advance(2 * DELAY)
        leader, follower = (j.result() for j in joins)
        parked = driver.sync(follower.member_id, 1)
        await settle()
        parked.cancel()
        await settle()
        assignments = {leader.member_id: b"a", follower.member_id: b"b"}
        assert (await driver.sync(leader.member_id, 1, assignments)).error_code is E.none
        assert state(driver) == "Stable"
        # the follower, reconnected, asks again and gets its assignment
        assert (await driver.sync(follower.member_id, 1)).assignment == b"b"

    run(scenario())


def test_a_failed_store_write_fails_the_sync_and_restarts_the_rebalance(driver, monkeypatch):
    async def scenario():
        joins = [driver.join(), driver.join()]
        await driver.advance(2 * DELAY)
        leader, follower = (j.result() for j in joins)
        waiting = driver.sync(follower.member_id, 1)
        await settle()

        def broken(*args):
            raise OSError(5, "Input/output error")

        for partition in driver.partitions:
            monkeypatch.setattr(partition.log, "append", broken)
        answer = await driver.sync(leader.member_id, 1, {leader.member_id: b"a"})
        assert answer == SyncResult(E.not_coordinator, None, None, b"")
        assert waiting.result() == SyncResult(E.not_coordinator, None, None, b"")
        assert state(driver) == "PreparingRebalance"

    run(scenario())


def test_close_answers_parked_calls_and_cancels_every_timer(driver):
    async def scenario():
        a, b = await driver.stable_group(2)
        rejoined = driver.join(a.member_id)
        await driver.join_now(b.member_id)
        assert rejoined.result().generation_id == 2
        parked_sync = driver.sync(b.member_id, 2)
        parked_join = driver.join(group="h")
        await settle()
        assert not parked_sync.done() and not parked_join.done()
        driver.coordinator.close()
        await settle()
        assert parked_join.result().error_code is E.coordinator_not_available
        assert parked_sync.result() == SyncResult(E.coordinator_not_available, None, None, b"")
        assert driver.clock.live_timers == 0
        assert (await driver.join_now()).error_code is E.coordinator_not_available
        assert (await driver.sync(a.member_id, 2)).error_code is E.coordinator_not_available
        heartbeat = driver.coordinator.heartbeat("g", a.member_id, 2, None)
        assert heartbeat is E.coordinator_not_available
        left = driver.coordinator.leave("g", [(a.member_id, None)])
        assert left.error_code is E.coordinator_not_available

    run(scenario())


def test_without_a_scheduler_timers_run_on_the_asyncio_loop(partitions):
    async def scenario():
        store = OffsetStore(partitions, lambda: 0)
        coordinator = GroupCoordinator(store, GroupSettings(initial_rebalance_delay_ms=20))
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await coordinator.join(
            "g", "", None, "c", "/h", "consumer", RR, SESSION_MS, 1000, False
        )
        assert result.generation_id == 1 and loop.time() - started >= 0.015
        coordinator.close()

    run(scenario())
