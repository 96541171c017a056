"""The quorum controller over the real Raft core of a one-voter quorum (the bundled default),
driven in memory the way the runtime drives it: the leader-change entry, offsets from 0, and
a restarted node that replays its log before it acts again."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Sequence

from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.controller.brokers import BrokerHeartbeatRequest, BrokerRegistrationRequest
from broker.controller.quorum import ControllerSettings, QuorumController
from broker.controller.topics import NewTopic
from broker.raft.core import ElectionState, RaftCore, Role
from broker.raft.messages import Entry
from tests.unit.controller.test_quorum import HOUR_MS, TIMEOUT_MS, run


class CoreLog:
    """A one-voter RaftCore as a MetadataLog: persisted state kept in memory, committed
    entries handed to the subscribers in order, an append answered once committed."""

    def __init__(
        self, clock: ManualClock, state: ElectionState | None = None, log: Sequence[Entry] = ()
    ) -> None:
        self.clock = clock
        self.core = RaftCore(
            0,
            frozenset({0}),
            now_ms=clock.now_ms(),
            rng=random.Random(1),
            election_state=state,
            log=log,
        )
        self.persisted_state = state or ElectionState()
        self.persisted_log: list[Entry] = list(log)
        self.applied = 0
        self._subscribers: list[Callable[[int, Entry], None]] = []

    @property
    def is_leader(self) -> bool:
        return self.core.role is Role.LEADER

    @property
    def epoch(self) -> int:
        return self.core.epoch

    def subscribe(
        self,
        on_commit: Callable[[int, Entry], None],
        on_snapshot: Callable[[int, bytes], None] | None = None,
    ) -> None:
        self._subscribers.append(on_commit)  # this log hands over no snapshots

    async def append(self, values: Sequence[bytes]) -> int:
        offset = self.core.append(list(values))
        self.pump()
        assert offset < self.applied  # one voter: committed once persisted
        return offset

    def elect(self) -> None:
        """Let time pass until the one voter has elected itself and committed its epoch's
        leader-change entry."""
        while not self.is_leader or self.applied < self.core.log.end_offset:
            self.clock.advance(100)
            self.core.tick(self.clock.now_ms())
            self.pump()

    def pump(self) -> None:
        while self.core.has_ready():
            ready = self.core.ready()
            if ready.election_state is not None:
                self.persisted_state = ready.election_state
            if ready.log_from is not None:
                del self.persisted_log[ready.log_from :]
                self.persisted_log.extend(ready.entries)
            for offset, entry in ready.committed:
                for on_commit in self._subscribers:
                    on_commit(offset, entry)
                self.applied = offset + 1
            self.core.advance(ready)


SETTINGS = ControllerSettings(
    session_timeout_ms=TIMEOUT_MS, leader_imbalance_check_interval_ms=HOUR_MS
)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@run
async def test_on_the_raft_core_it_acts_once_elected_and_resumes_from_its_log_after_a_restart():
    clock = ManualClock(1_000_000)
    first = CoreLog(clock)
    controller = QuorumController(0, first, clock, SETTINGS, rng=random.Random(2))
    first.elect()
    assert controller.active
    await settle()
    registered = await controller.register_broker(BrokerRegistrationRequest(0, uuid.uuid4()))
    epoch = registered.broker_epoch
    assert first.persisted_log[epoch].value  # the broker epoch is its entry's offset
    beat = await controller.heartbeat(BrokerHeartbeatRequest(0, epoch, epoch))
    assert not beat.is_fenced
    (created,) = await controller.create_topics([NewTopic("tweets", 3, 1)])
    assert created.error_code == ErrorCode.none

    # The node restarts with what it had persisted: it replays the log, then acts again.
    restarted = CoreLog(clock, first.persisted_state, first.persisted_log)
    again = QuorumController(0, restarted, clock, SETTINGS, rng=random.Random(3))
    assert not again.active
    restarted.elect()
    assert again.active and restarted.epoch > first.epoch
    assert again.image == controller.image
    await settle()
    clock.advance(TIMEOUT_MS)  # the lease restarted from the election: not expired yet
    await settle()
    assert not again.image.brokers[0].fenced
    clock.advance(1)
    await settle()
    assert again.image.brokers[0].fenced
    assert again.image.partition("tweets", 0).leader == -1
