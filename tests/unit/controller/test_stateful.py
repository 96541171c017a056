"""Random histories of a cluster, applied through the controller's records, keep Kafka's
invariants after every step.

Hypothesis drives registrations, heartbeats (caught up or not, asking to be fenced or to shut
down), clock advances past session timeouts, topic creation and deletion, new partitions,
AlterPartition requests (from leaders and others, with current and stale epochs), elections
and producer-id blocks. After each step:

- an ISR is a non-empty subset of the replicas, without repeats;
- a leader is an ISR member that is registered, unfenced and not shutting down, or -1;
- a fenced or shutting-down broker is in no ISR of more than one member;
- leader and partition epochs never go backwards, and any change bumps the partition epoch;
- with unclean election off and not asked for, a new leader was in the ISR before the step
  (no acked write is lost);
- producer-id blocks never overlap.
"""

from __future__ import annotations

import uuid
from itertools import pairwise

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from kio.schema.errors import ErrorCode

from broker.controller.elections import ElectionType, elect_leaders, rebalance_preferred
from broker.controller.isr import IsrChange, alter_partition
from broker.controller.partition_change import is_active
from broker.controller.producer_ids import allocate_producer_ids
from broker.controller.topics import PartitionsIncrease, create_partitions, delete_topics
from broker.metadata.image import PartitionRegistration
from broker.metadata.records import NO_LEADER
from tests.unit.controller.harness import Harness

BROKERS = st.integers(0, 4)
SELDOM = st.sampled_from([False, False, False, False, True])
TOPICS = st.sampled_from(["a", "b", "c"])

PartitionKey = tuple[uuid.UUID, int]


class ClusterHistory(RuleBasedStateMachine):
    @initialize(
        seed=st.integers(0, 2**16), brokers=st.integers(1, 5), replication_factor=st.integers(1, 3)
    )
    def start(self, seed: int, brokers: int, replication_factor: int) -> None:
        self.h = Harness(seed)
        self.h.start(brokers)
        self.h.create("a", 3, replication_factor)
        self.before: dict[PartitionKey, PartitionRegistration] = {}
        self.unclean_asked = False
        self.blocks: list[range] = []
        self.unclean_topics: set[str] = set()  # created with unclean election enabled

    def _snapshot(self) -> dict[PartitionKey, PartitionRegistration]:
        return {(t.topic_id, i): p for t, i, p in self.h.image.all_partitions()}

    # -- brokers --------------------------------------------------------------------------

    @rule(broker_id=BROKERS, new_incarnation=st.booleans())
    def register(self, broker_id: int, new_incarnation: bool) -> None:
        known = self.h.incarnations.get(broker_id)
        self.h.register(broker_id, None if new_incarnation or known is None else known)

    @rule(
        broker_id=BROKERS,
        caught_up=st.sampled_from([True, True, False]),
        want_shut_down=SELDOM,
        want_fence=SELDOM,
    )
    def heartbeat(
        self, broker_id: int, caught_up: bool, want_shut_down: bool, want_fence: bool
    ) -> None:
        self.h.heartbeat(
            broker_id, caught_up=caught_up, want_shut_down=want_shut_down, want_fence=want_fence
        )

    @rule(ms=st.integers(0, 4000))
    def advance(self, ms: int) -> None:
        self.h.advance(ms)

    # -- topics -----------------------------------------------------------------------------

    @rule(
        name=TOPICS,
        partitions=st.integers(1, 3),
        replication_factor=st.integers(1, 3),
        unclean=st.booleans(),
    )
    def create(self, name: str, partitions: int, replication_factor: int, unclean: bool) -> None:
        configs = {"unclean.leader.election.enable": "true"} if unclean else {}
        answer = self.h.create(name, partitions, replication_factor, configs=configs)
        if answer.error_code == ErrorCode.none:
            self.unclean_topics.discard(name)
            if unclean:
                self.unclean_topics.add(name)

    @rule(name=TOPICS)
    def delete(self, name: str) -> None:
        self.h.commit(delete_topics(self.h.image, [name]))

    @rule(name=TOPICS, more=st.integers(1, 2))
    def add_partitions(self, name: str, more: int) -> None:
        topic = self.h.image.topics.get(name)
        count = (len(topic.partitions) if topic else 0) + more
        self.h.commit(
            create_partitions(self.h.image, [PartitionsIncrease(name, count)], rng=self.h.rng)
        )

    # -- partitions -------------------------------------------------------------------------

    @rule(
        data=st.data(),
        from_leader=st.sampled_from([True, True, True, False]),
        stranger=SELDOM,
        leader_epoch_off=st.sampled_from([0, 0, 0, 0, -1, 1]),
        partition_epoch_off=st.sampled_from([0, 0, 0, 0, -1, 1]),
    )
    def alter(
        self,
        data: st.DataObject,
        from_leader: bool,
        stranger: bool,
        leader_epoch_off: int,
        partition_epoch_off: int,
    ) -> None:
        partitions = sorted(
            ((t.name, t.topic_id, i, p) for t, i, p in self.h.image.all_partitions()),
            key=lambda x: (x[0], x[2]),
        )
        if not partitions:
            return
        _, topic_id, index, p = data.draw(st.sampled_from(partitions))
        sender = p.leader if from_leader and p.leader != NO_LEADER else data.draw(BROKERS)
        if sender not in self.h.image.brokers:
            return
        others = data.draw(st.lists(st.sampled_from(p.replicas), max_size=3))
        new_isr = tuple(dict.fromkeys([sender, *others, *([9] if stranger else [])]))
        change = IsrChange(
            topic_id,
            index,
            p.leader_epoch + leader_epoch_off,
            p.partition_epoch + partition_epoch_off,
            new_isr,
        )
        epoch = self.h.image.brokers[sender].epoch
        self.h.commit(alter_partition(self.h.image, sender, epoch, [change]))

    @rule(unclean=st.booleans())
    def elect(self, unclean: bool) -> None:
        election = ElectionType.UNCLEAN if unclean else ElectionType.PREFERRED
        self.unclean_asked = unclean
        self.h.commit(elect_leaders(self.h.image, election))

    @rule()
    def rebalance(self) -> None:
        self.h.image = self.h.image.apply_all(rebalance_preferred(self.h.image))

    @rule(broker_id=BROKERS)
    def producer_ids(self, broker_id: int) -> None:
        broker = self.h.image.brokers.get(broker_id)
        if broker is None:
            return
        block = self.h.commit(allocate_producer_ids(self.h.image, broker_id, broker.epoch))
        self.blocks.append(range(block.producer_id_start, block.producer_id_start + 1000))

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def partitions_are_sound(self) -> None:
        if not hasattr(self, "h"):
            return
        image = self.h.image
        now = self._snapshot()
        for topic, index, p in image.all_partitions():
            assert p.isr, p
            assert len(set(p.isr)) == len(p.isr), p
            assert set(p.isr) <= set(p.replicas), p
            if p.leader != NO_LEADER:
                assert p.leader in p.isr and is_active(image, p.leader), p
            if len(p.isr) > 1:
                assert all(is_active(image, r) for r in p.isr), (p, image.brokers)
            old = self.before.get((topic.topic_id, index))
            if old is None:
                continue
            assert p.leader_epoch >= old.leader_epoch and p.partition_epoch >= old.partition_epoch
            if p != old:
                assert p.partition_epoch > old.partition_epoch, (old, p)
            if p.leader != old.leader:
                assert p.leader_epoch > old.leader_epoch, (old, p)
                unclean = self.unclean_asked or topic.name in self.unclean_topics
                if p.leader != NO_LEADER and not unclean:
                    assert p.leader in old.isr, (old, p)
        self.before = now
        self.unclean_asked = False

    @invariant()
    def producer_id_blocks_never_overlap(self) -> None:
        if not hasattr(self, "h"):
            return
        starts = sorted(b.start for b in self.blocks)
        assert all(b - a >= 1000 for a, b in pairwise(starts))
        assert all(b.stop <= self.h.image.next_producer_id for b in self.blocks)


ClusterHistory.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_cluster_history = ClusterHistory.TestCase
