"""The quorum controller runtime on a manual clock over an in-memory metadata log: when it
acts, one operation at a time, answers only once committed, leases and fencing timers,
controlled shutdown, leader rebalance, and resuming from the log after a failover."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import pytest
from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.controller.brokers import BrokerHeartbeatRequest, BrokerRegistrationRequest
from broker.controller.configs import ConfigChange, ConfigOp, OpType
from broker.controller.elections import ElectionType
from broker.controller.isr import IsrChange
from broker.controller.quorum import ControllerSettings, NotControllerError, QuorumController
from broker.controller.topics import NewTopic, PartitionsIncrease
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    NO_LEADER,
    ConfigRecord,
    ConfigResourceType,
    FenceBrokerRecord,
    MetadataRecord,
    RegisterBrokerRecord,
    UnfenceBrokerRecord,
)
from broker.metadata.snapshot import encode_snapshot
from tests.unit.controller.memory_log import MemoryLog

TIMEOUT_MS = 3000
BROKER = ConfigResourceType.BROKER
HOUR_MS = 3_600_000
# No rebalance check within any test, unless the test sets one.
SETTINGS = ControllerSettings(
    session_timeout_ms=TIMEOUT_MS, leader_imbalance_check_interval_ms=HOUR_MS
)


class Cluster:
    """One controller over a MemoryLog, and brokers driven by hand."""

    def __init__(self, settings: ControllerSettings = SETTINGS, *, node_id: int = 0) -> None:
        self.clock = ManualClock(1_000_000)
        self.log = MemoryLog()
        self.controller = QuorumController(
            node_id, self.log, self.clock, settings, rng=random.Random(7)
        )
        self.epochs: dict[int, int] = {}

    async def register(self, broker_id: int) -> int:
        request = BrokerRegistrationRequest(broker_id, uuid.UUID(int=broker_id + 1))
        answer = await self.controller.register_broker(request)
        assert answer.error_code == ErrorCode.none
        self.epochs[broker_id] = answer.broker_epoch
        return answer.broker_epoch

    async def beat(self, broker_id: int, *, shut_down: bool = False, offset: int | None = None):
        """A heartbeat from a broker that has applied ``offset`` (default: all committed)."""
        applied = self.log.committed - 1 if offset is None else offset
        request = BrokerHeartbeatRequest(
            broker_id, self.epochs[broker_id], applied, want_shut_down=shut_down
        )
        return await self.controller.heartbeat(request)

    async def start(self, brokers: int) -> None:
        self.log.become_leader()
        await settle()  # what it does on becoming active
        for broker_id in range(brokers):
            await self.register(broker_id)
        for broker_id in range(brokers):
            assert not (await self.beat(broker_id)).is_fenced

    async def create(self, name: str, partitions: int, factor: int) -> None:
        (created,) = await self.controller.create_topics([NewTopic(name, partitions, factor)])
        assert created.error_code == ErrorCode.none, created

    async def expand_isr(self, name: str, index: int, broker_id: int) -> None:
        """The partition's leader adds ``broker_id`` to its ISR with AlterPartition."""
        partition = self.partition(name, index)
        change = IsrChange(
            self.controller.image.topics[name].topic_id,
            index,
            partition.leader_epoch,
            partition.partition_epoch,
            (*partition.isr, broker_id),
        )
        leader = partition.leader
        answer = await self.controller.alter_partition(leader, self.epochs[leader], [change])
        assert answer.partitions[0].error_code == ErrorCode.none

    def partition(self, name: str, index: int = 0):
        partition = self.controller.image.partition(name, index)
        assert partition is not None
        return partition

    async def advance(self, ms: int) -> None:
        """Move the clock on, letting the operations its timers start run."""
        self.clock.advance(ms)
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def run(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    def sync() -> None:
        asyncio.run(test())

    sync.__name__ = test.__name__
    return sync


# -- when it acts -----------------------------------------------------------------------------


@run
async def test_it_answers_not_controller_until_it_has_replayed_its_own_epochs_leader_change():
    c = Cluster()
    with pytest.raises(NotControllerError):
        await c.controller.register_broker(BrokerRegistrationRequest(0, uuid.uuid4()))
    assert not c.controller.active
    c.log.become_leader()
    assert c.controller.active
    assert await c.register(0) == 1  # the entry after the leader change at offset 0


@run
async def test_a_follower_replays_the_leaders_entries_and_does_not_act():
    c = Cluster()
    registered = RegisterBrokerRecord(5, uuid.UUID(int=1), broker_epoch=1)
    c.log.replicate(epoch=1, records=[registered])
    c.log.replicate(epoch=1, records=[UnfenceBrokerRecord(5, 1)])
    assert not c.controller.image.brokers[5].fenced
    assert c.controller.committed_offset == 2
    with pytest.raises(NotControllerError):
        await c.controller.allocate_producer_ids(5, 1)


@run
async def test_an_entry_that_does_not_fit_the_image_is_skipped_and_replay_goes_on():
    c = Cluster()
    registered = RegisterBrokerRecord(5, uuid.UUID(int=1), broker_epoch=1)
    c.log.replicate(epoch=1, records=[registered])
    # An entry applies whole or not at all: broker 6 stays out with the bad record after it.
    also = RegisterBrokerRecord(6, uuid.UUID(int=2), broker_epoch=2)
    c.log.replicate(epoch=1, records=[also, FenceBrokerRecord(9, 4)])  # no broker 9
    c.log.replicate(epoch=1, records=[UnfenceBrokerRecord(5, 1)])
    assert c.controller.committed_offset == 3
    assert list(c.controller.image.brokers) == [5]
    assert not c.controller.image.brokers[5].fenced


@run
async def test_a_broker_epoch_is_its_registration_entrys_offset_and_it_unfences_on_catch_up():
    c = Cluster()
    c.log.become_leader()
    epoch = await c.register(3)
    assert c.log.entries[epoch].value  # that entry holds the registration
    assert c.controller.image.brokers[3].epoch == epoch
    behind = await c.beat(3, offset=epoch - 1)
    assert behind.is_fenced and not behind.is_caught_up
    caught_up = await c.beat(3, offset=epoch)
    assert not caught_up.is_fenced and caught_up.is_caught_up
    assert isinstance(c.log.records()[-1], UnfenceBrokerRecord)


@run
async def test_the_answer_waits_until_the_entry_is_committed_and_operations_run_one_at_a_time():
    c = Cluster()
    await c.start(1)
    c.log.hold = True
    first = asyncio.ensure_future(c.controller.create_topics([NewTopic("a", 1, 1)]))
    second = asyncio.ensure_future(c.controller.create_topics([NewTopic("a", 1, 1)]))
    await settle()
    assert not first.done() and not second.done()
    assert "a" not in c.controller.image.topics
    appended = len(c.log.entries)
    c.log.commit()
    await settle()
    (created,) = first.result()
    assert created.error_code == ErrorCode.none and "a" in c.controller.image.topics
    # The second was decided only after the first was committed: it sees the topic.
    c.log.commit()
    (again,) = await second
    assert again.error_code == ErrorCode.topic_already_exists
    assert len(c.log.entries) == appended


@run
async def test_losing_leadership_before_the_commit_answers_not_controller_and_stops_acting():
    c = Cluster()
    await c.start(2)
    await c.create("t", 1, 2)
    c.log.hold = True
    pending = asyncio.ensure_future(c.controller.allocate_producer_ids(0, c.epochs[0]))
    await settle()
    c.log.lose_leadership()
    with pytest.raises(NotControllerError):
        await pending
    assert not c.controller.active
    with pytest.raises(NotControllerError):
        await c.controller.allocate_producer_ids(0, c.epochs[0])
    entries = len(c.log.entries)
    await c.advance(10 * TIMEOUT_MS)  # no lease is watched any more: nobody is fenced
    assert len(c.log.entries) == entries
    assert not c.controller.image.brokers[1].fenced


# -- leases and fencing -----------------------------------------------------------------------


@run
async def test_a_silent_broker_is_fenced_once_its_lease_runs_out_and_its_leaderships_move():
    c = Cluster()
    await c.start(2)
    await c.create("t", 2, 2)
    leaders = {c.partition("t", i).leader for i in range(2)}
    assert leaders == {0, 1}
    await c.advance(TIMEOUT_MS - 500)
    await c.beat(0)
    await c.advance(500)  # 1's lease ends exactly now: not yet
    assert not c.controller.image.brokers[1].fenced
    await c.advance(1)
    assert c.controller.image.brokers[1].fenced
    assert not c.controller.image.brokers[0].fenced
    for index in range(2):
        assert c.partition("t", index).leader == 0 and c.partition("t", index).isr == (0,)
    # 0 keeps beating and stays; silent, it goes too, and the partitions go offline.
    await c.advance(TIMEOUT_MS)
    assert c.controller.image.brokers[0].fenced
    assert c.partition("t").leader == NO_LEADER


@run
async def test_a_new_controller_resumes_from_the_log_and_restarts_every_lease_from_now():
    old = Cluster()
    await old.start(2)
    await old.create("t", 1, 2)
    # A second controller's node replicated everything the first committed.
    new = Cluster(node_id=1)
    new.log.entries.extend(old.log.entries)
    new.log.epoch = old.log.epoch
    new.log.commit()
    assert new.controller.image == old.controller.image and not new.controller.active
    new.clock.advance(60_000)  # long after the last heartbeat the old one saw
    new.log.become_leader(node_id=1)
    assert new.controller.active
    await new.advance(TIMEOUT_MS)
    assert not any(b.fenced for b in new.controller.image.brokers.values())
    new.epochs = old.epochs
    await new.beat(0)
    await new.advance(1)
    assert new.controller.image.brokers[1].fenced and not new.controller.image.brokers[0].fenced
    assert new.partition("t").leader == 0
    # A registration on the new controller takes the next offset of the log it resumed.
    assert await new.register(7) == len(new.log.entries) - 1


# -- controlled shutdown ----------------------------------------------------------------------


@run
async def test_controlled_shutdown_moves_leaderships_then_stops_once_the_others_have_seen_it():
    c = Cluster()
    await c.start(2)
    await c.create("t", 2, 2)
    answer = await c.beat(0, shut_down=True)
    assert not answer.should_shut_down and not answer.is_fenced
    moved = c.log.committed - 1  # the one entry moving its leaderships
    for index in range(2):
        assert c.partition("t", index).leader == 1
    # Broker 1 has not applied that entry yet: 0 must wait.
    await c.beat(1, offset=moved - 1)
    assert not (await c.beat(0, shut_down=True)).should_shut_down
    await c.beat(1, offset=moved)
    stopped = await c.beat(0, shut_down=True)
    assert stopped.should_shut_down and stopped.is_fenced
    assert isinstance(c.log.records()[-1], FenceBrokerRecord)


# -- timers that change leaders --------------------------------------------------------------


async def a_broker_returns(
    settings: ControllerSettings, earlier: Sequence[MetadataRecord] = ()
) -> Cluster:
    """Two brokers, topic "t" of two partitions; broker 0 shuts down and comes back, so
    broker 1 leads both, and 0 rejoins both ISRs. ``earlier``: records an earlier
    controller left in the log."""
    c = Cluster(settings)
    if earlier:
        c.log.replicate(epoch=1, records=earlier)
    await c.start(2)
    await c.create("t", 2, 2)
    await c.beat(0, shut_down=True)  # 0 hands over its leaderships
    await c.beat(1)
    assert (await c.beat(0, shut_down=True)).should_shut_down
    c.epochs[0] = await c.register(0)
    await c.beat(0)
    await c.beat(1)
    for i in range(2):  # 0 catches up and its leader, 1, takes it back into the ISR
        await c.expand_isr("t", i, 0)
    assert all(c.partition("t", i).leader == 1 for i in range(2))
    return c


@run
async def test_auto_leader_rebalance_gives_partitions_back_to_their_preferred_replica():
    interval = 10_000
    settings = ControllerSettings(
        session_timeout_ms=HOUR_MS, leader_imbalance_check_interval_ms=interval
    )
    c = await a_broker_returns(settings)
    await c.advance(interval - 1)
    assert all(c.partition("t", i).leader == 1 for i in range(2))
    await c.advance(1)
    assert [c.partition("t", i).leader for i in range(2)] == [
        c.partition("t", i).replicas[0] for i in range(2)
    ]


@run
async def test_leaders_stay_while_a_brokers_imbalance_is_within_the_percentage():
    """leader.imbalance.per.broker.percentage: broker 0 is the preferred replica of one of the
    two partitions, led by broker 1 (100 % of its share): nothing moves at 100 %, it does
    below."""
    interval = 10_000
    for percentage, moves in ((100, False), (99, True)):
        settings = ControllerSettings(
            session_timeout_ms=HOUR_MS,
            leader_imbalance_check_interval_ms=interval,
            leader_imbalance_per_broker_percentage=percentage,
        )
        c = await a_broker_returns(settings)
        await c.advance(interval)
        moved = [c.partition("t", i).leader == c.partition("t", i).replicas[0] for i in range(2)]
        assert all(moved) if moves else moved.count(True) == 1  # one was preferred by 1


@run
async def test_an_auto_leader_rebalance_setting_an_older_controller_wrote_is_ignored():
    """An older controller wrote its own auto.leader.rebalance.enable into the metadata; it
    is static again, so the log loads and the controller's own setting decides."""
    interval = 10_000
    settings = ControllerSettings(
        session_timeout_ms=HOUR_MS, leader_imbalance_check_interval_ms=interval
    )
    written = ConfigRecord(BROKER, "", "auto.leader.rebalance.enable", "false")
    c = await a_broker_returns(settings, [written])
    await c.advance(interval)
    assert all(c.partition("t", i).leader == c.partition("t", i).replicas[0] for i in range(2))


@run
async def test_without_auto_leader_rebalance_leaders_stay_where_they_are():
    settings = ControllerSettings(
        session_timeout_ms=HOUR_MS,
        auto_leader_rebalance=False,
        leader_imbalance_check_interval_ms=10_000,
    )
    c = await a_broker_returns(settings)
    assert {c.partition("t", i).replicas[0] for i in range(2)} == {0, 1}
    await c.advance(600_000)
    assert all(c.partition("t", i).leader == 1 for i in range(2))


async def offline_until_an_out_of_sync_replica_returns(c: Cluster) -> tuple[int, int]:
    """On an active controller with brokers 0 and 1 and topic "t" of one partition on
    replicas (0, 1): broker 1 goes silent and leaves the ISR, then 0 does too, so the
    partition is offline; then 1, out of sync, comes back. Returns the partition's leader
    and the size of its ISR then."""
    await c.advance(TIMEOUT_MS - 500)
    await c.beat(0)
    await c.advance(501)  # 1 is fenced and leaves the ISR; 0 leads
    await c.advance(TIMEOUT_MS)  # 0 is fenced too: the partition is offline
    assert c.partition("t").leader == NO_LEADER and c.partition("t").isr == (0,)
    c.epochs[1] = await c.register(1)
    await c.beat(1)
    return c.partition("t").leader, len(c.partition("t").isr)


UNCLEAN = "unclean.leader.election.enable"


def config_records(log: MemoryLog) -> list[ConfigRecord]:
    return [r for r in log.records() if isinstance(r, ConfigRecord)]


@run
async def test_a_dynamic_unclean_election_outlives_a_controller_with_static_false():
    """kafka-configs sets unclean.leader.election.enable=true cluster-wide; the next active
    controller, whose own setting is false, neither writes false nor elects by it."""
    old = Cluster()
    await old.start(2)
    await old.controller.create_topics([NewTopic("t", assignments={0: (0, 1)})])
    enable = ConfigChange(BROKER, "", (ConfigOp(UNCLEAN, OpType.SET, "true"),))
    (answer,) = await old.controller.alter_configs([enable])
    assert answer.error_code == ErrorCode.none
    new = Cluster(node_id=1)  # static unclean.leader.election.enable=false
    new.log.entries.extend(old.log.entries)
    new.log.epoch = old.log.epoch
    new.log.commit()
    new.log.become_leader(node_id=1)
    await settle()
    new.epochs = dict(old.epochs)
    assert await offline_until_an_out_of_sync_replica_returns(new) == (1, 1)
    assert config_records(new.log) == [ConfigRecord(BROKER, "", UNCLEAN, "true")]


@run
async def test_its_static_unclean_election_applies_where_no_dynamic_one_is_set():
    for static, leader in ((False, NO_LEADER), (True, 1)):
        c = Cluster(replace(SETTINGS, unclean_leader_election=static))
        await c.start(2)
        await c.controller.create_topics([NewTopic("t", assignments={0: (0, 1)})])
        assert (await offline_until_an_out_of_sync_replica_returns(c))[0] == leader
        assert config_records(c.log) == []  # it never writes its own settings


@run
async def test_an_unclean_election_setting_an_older_controller_wrote_counts_as_dynamic():
    """An older controller copied its static false into the metadata on becoming active; a
    log written then loads, and that value wins over this controller's static true."""
    c = Cluster(replace(SETTINGS, unclean_leader_election=True))
    c.log.replicate(epoch=1, records=[ConfigRecord(BROKER, "", UNCLEAN, "false")])
    await c.start(2)
    await c.controller.create_topics([NewTopic("t", assignments={0: (0, 1)})])
    assert (await offline_until_an_out_of_sync_replica_returns(c))[0] == NO_LEADER


@run
async def test_a_cluster_wide_dynamic_false_wins_over_its_static_true():
    c = Cluster(replace(SETTINGS, unclean_leader_election=True))
    await c.start(2)
    await c.controller.create_topics([NewTopic("t", assignments={0: (0, 1)})])
    disable = ConfigChange(BROKER, "", (ConfigOp(UNCLEAN, OpType.SET, "false"),))
    await c.controller.alter_configs([disable])
    assert (await offline_until_an_out_of_sync_replica_returns(c))[0] == NO_LEADER


# -- the other operations, through the log ----------------------------------------------------


@run
async def test_topic_changes_producer_ids_isr_and_elections_are_written_and_answered():
    c = Cluster()
    await c.start(3)
    (checked,) = await c.controller.create_topics([NewTopic("v", 1, 3)], validate_only=True)
    assert checked.error_code == ErrorCode.none and "v" not in c.controller.image.topics
    (too_many,) = await c.controller.create_topics([NewTopic("w", 1, 4)])
    assert too_many.error_code == ErrorCode.invalid_replication_factor
    await c.create("t", 1, 3)
    (grown,) = await c.controller.create_partitions([PartitionsIncrease("t", 3)])
    assert grown.error_code == ErrorCode.none
    assert len(c.controller.image.topics["t"].partitions) == 3

    block = await c.controller.allocate_producer_ids(0, c.epochs[0])
    again = await c.controller.allocate_producer_ids(1, c.epochs[1])
    assert block.error_code == again.error_code == ErrorCode.none
    assert again.producer_id_start == block.producer_id_start + block.producer_id_len

    partition = c.partition("t")
    leader = partition.leader
    smaller = tuple(r for r in partition.isr if r == leader or r != partition.replicas[-1])
    topic_id = c.controller.image.topics["t"].topic_id
    change = IsrChange(topic_id, 0, partition.leader_epoch, partition.partition_epoch, smaller)
    altered = await c.controller.alter_partition(leader, c.epochs[leader], [change])
    assert altered.partitions[0].error_code == ErrorCode.none
    assert c.partition("t").isr == smaller

    (election,) = await c.controller.elect_leaders(ElectionType.PREFERRED, [("t", 0)])
    assert election.error_code in (ErrorCode.none, ErrorCode.election_not_needed)

    (deleted,) = await c.controller.delete_topics(["t"])
    assert deleted.error_code == ErrorCode.none and "t" not in c.controller.image.topics


@run
async def test_stopping_answers_not_controller_to_a_request_still_waiting_for_its_entry():
    c = Cluster()
    await c.start(1)
    c.log.hold = True
    pending = asyncio.ensure_future(c.controller.allocate_producer_ids(0, c.epochs[0]))
    await settle()
    c.log.commit(announce=False)  # committed, but not yet replayed here
    await settle()
    assert not pending.done()
    c.controller.stop()
    with pytest.raises(NotControllerError):
        await pending
    assert not c.controller.active


@run
async def test_an_answer_waits_for_its_entry_to_be_replayed_not_only_committed():
    c = Cluster()
    await c.start(1)
    c.log.hold = True
    pending = asyncio.ensure_future(c.controller.create_topics([NewTopic("t", 1, 1)]))
    await settle()
    c.log.commit(announce=False)
    await settle()
    assert not pending.done() and "t" not in c.controller.image.topics
    c.log.announce()
    (created,) = await pending
    assert created.error_code == ErrorCode.none and "t" in c.controller.image.topics


# -- snapshots --------------------------------------------------------------------------------


def restarted_from(log: MemoryLog, end_offset: int, data: bytes) -> Cluster:
    """A controller restarted on a node whose log starts at a snapshot ending at
    ``end_offset``: it loads the snapshot, then replays the entries after it."""
    c = Cluster()
    c.log.entries = list(log.entries)
    c.log.epoch = log.epoch
    c.controller.load_snapshot(end_offset, data)
    c.log.announced = end_offset
    c.log.commit()
    return c


@run
async def test_a_controller_restarted_from_a_snapshot_and_the_entries_after_it_acts_as_before():
    c = Cluster()
    await c.start(3)
    await c.create("t", 2, 3)
    end_offset = c.log.committed
    data = encode_snapshot(c.controller.image)
    await c.create("u", 1, 2)
    (deleted,) = await c.controller.delete_topics(["t"])
    assert deleted.error_code == ErrorCode.none

    again = restarted_from(c.log, end_offset, data)
    assert again.controller.image == c.controller.image
    assert again.controller.committed_offset == c.controller.committed_offset

    again.log.become_leader()
    await settle()
    assert again.controller.active
    again.epochs = dict(c.epochs)  # broker epochs are entry offsets: the snapshot keeps them
    assert not (await again.beat(1)).is_fenced
    await again.create("v", 1, 3)
    assert set(again.controller.image.topics) == {"u", "v"}


@run
async def test_a_request_waiting_for_its_entry_is_answered_once_a_snapshot_covers_it():
    c = Cluster()
    await c.start(1)
    c.log.hold = True
    pending = asyncio.ensure_future(c.controller.create_topics([NewTopic("t", 1, 1)]))
    await settle()
    c.log.commit(announce=False)
    await settle()
    assert not pending.done()
    image = MetadataImage().apply_all(c.log.records())  # the leader's, with the entry
    c.controller.load_snapshot(c.log.committed, encode_snapshot(image))
    (created,) = await pending
    assert created.error_code == ErrorCode.none and "t" in c.controller.image.topics
