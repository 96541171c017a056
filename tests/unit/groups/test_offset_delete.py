"""OffsetDelete, as Kafka's ``GroupCoordinator.handleDeleteOffsets``: which offsets go, which
stay, the group errors, and the tombstones a replay finds."""

from __future__ import annotations

import struct

from kio.schema.errors import ErrorCode as E

from broker.groups import CommitEntry, CommittedOffset
from broker.groups.values import OffsetDeleteResult
from tests.unit.groups.support import run, settle


def subscription(*topics: str) -> bytes:
    """A ConsumerProtocolSubscription v0: version, topics, null user data."""
    out = struct.pack(">hi", 0, len(topics))
    for topic in topics:
        out += struct.pack(">h", len(topic)) + topic.encode()
    return out + struct.pack(">i", -1)


def commit(driver, group: str, *entries: tuple[str, int, int]) -> None:
    offsets = [CommitEntry(t, p, o, -1, "") for t, p, o in entries]
    assert driver.coordinator.commit(group, -1, "", None, offsets) == [E.none] * len(entries)


async def stable(driver, protocol_type: str, metadata: bytes) -> None:
    """One member in group "g", Stable, under ``protocol_type``."""
    join = driver.join(protocol_type=protocol_type, protocols=[("range", metadata)])
    await driver.advance(600)
    me = join.result().member_id
    sync = driver.sync(me, 1, {me: b"assigned"}, protocol_type=protocol_type)
    await settle()
    assert sync.result().error_code is E.none


def test_a_consuming_group_keeps_its_subscribed_topics_offsets(driver):
    async def scenario():
        commit(driver, "g", ("tweets", 0, 5), ("old", 0, 7), ("old", 1, 8))
        await stable(driver, "consumer", subscription("tweets"))
        answer = driver.coordinator.delete_offsets("g", [("tweets", 0), ("old", 0)])
        assert answer == OffsetDeleteResult(
            E.none, {("tweets", 0): E.group_subscribed_to_topic, ("old", 0): E.none}
        )
        assert driver.coordinator.fetch("g", None) == [
            CommittedOffset("old", 1, 8, -1, ""),
            CommittedOffset("tweets", 0, 5, -1, ""),
        ]
        replayed = driver.store.replay()
        assert {(k.topic, k.partition) for k in replayed.offsets} == {("old", 1), ("tweets", 0)}

    run(scenario())


def test_a_subscription_that_cannot_be_read_protects_nothing(driver):
    async def scenario():
        commit(driver, "g", ("tweets", 0, 5))
        await stable(driver, "consumer", b"\x00\x00garbage")
        answer = driver.coordinator.delete_offsets("g", [("tweets", 0)])
        assert answer == OffsetDeleteResult(E.none, {("tweets", 0): E.none})

    run(scenario())


def test_a_group_of_another_protocol_type_with_members_is_not_empty(driver):
    async def scenario():
        commit(driver, "g", ("tweets", 0, 5))
        await stable(driver, "connect", b"worker")
        answer = driver.coordinator.delete_offsets("g", [("tweets", 0)])
        assert answer == OffsetDeleteResult(E.non_empty_group, {})
        assert driver.coordinator.fetch("g", None) == [CommittedOffset("tweets", 0, 5, -1, "")]

    run(scenario())


def test_an_empty_group_left_without_offsets_is_deleted(driver):
    commit(driver, "g", ("tweets", 0, 5), ("tweets", 1, 6))
    first = driver.coordinator.delete_offsets("g", [("tweets", 0)])
    assert first == OffsetDeleteResult(E.none, {("tweets", 0): E.none})
    assert driver.coordinator.describe("g").state_name == "Empty"
    last = driver.coordinator.delete_offsets("g", [("tweets", 1), ("tweets", 2)])
    assert last == OffsetDeleteResult(E.none, {("tweets", 1): E.none, ("tweets", 2): E.none})
    assert driver.coordinator.describe("g").state_name == "Dead"
    assert driver.coordinator.list_groups() == []
    replayed = driver.store.replay()
    assert (replayed.offsets, replayed.groups) == ({}, {})
    assert driver.coordinator.delete_offsets("g", [("tweets", 0)]) == OffsetDeleteResult(
        E.group_id_not_found, {}
    )


def test_a_failed_write_keeps_the_offsets(driver, monkeypatch):
    commit(driver, "g", ("tweets", 0, 5))

    def broken(*args):
        raise OSError(5, "Input/output error")

    for partition in driver.partitions:
        monkeypatch.setattr(partition.log, "append", broken)
    answer = driver.coordinator.delete_offsets("g", [("tweets", 0)])
    assert answer == OffsetDeleteResult(E.not_coordinator, {})
    assert driver.coordinator.fetch("g", None) == [CommittedOffset("tweets", 0, 5, -1, "")]
    driver.coordinator.close()
    closed = driver.coordinator.delete_offsets("g", [("tweets", 0)])
    assert closed == OffsetDeleteResult(E.coordinator_not_available, {})
