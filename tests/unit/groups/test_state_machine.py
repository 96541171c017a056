"""Random join / sync / heartbeat / leave / commit / delete traffic and time, with the
group's invariants checked after every step (a white-box test: it reads the coordinator's
groups and records every call of the one state-changing method). Two of the four clients are
static members (``group.instance.id``) that may also restart: a restart into a Stable group
with unchanged protocols must be answered at once, in the same generation."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from kio.schema.errors import ErrorCode as E

from broker.groups import CommitEntry, GroupCoordinator, GroupSettings, JoinResult, OffsetStore
from broker.groups.group import Group
from broker.groups.state import TRANSITIONS, GroupState
from tests.support.examples import examples
from tests.unit.groups.support import ManualClock, make_partitions

GROUP = "g"
SESSION_MS = 6000
PROTOCOLS = [
    [("range", b"r1")],
    [("range", b"r2")],
    [("roundrobin", b"rr"), ("range", b"r1")],
    [("range", b"r1"), ("roundrobin", b"rr")],
    [("sticky", b"s")],
]


@dataclass
class Client:
    instance_id: str | None = None
    member_id: str = ""
    generation: int = -1
    members: list[str] = field(default_factory=list)  # filled when it leads
    join: asyncio.Task[JoinResult] | None = None
    sync: asyncio.Task | None = None
    protocols: list[tuple[str, bytes]] = field(default_factory=list)  # of its last join
    # Every member id the coordinator gave it, heard or not: a join answer lost with the
    # connection leaves a static member in the group, and a restart takes over its place
    # and assignment under a new id.
    former_ids: set[str] = field(default_factory=set)


class GroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="groups-"))
        self.partitions = make_partitions(self.directory, 1)
        self.clock = ManualClock()
        store = OffsetStore(self.partitions, self.clock.now_ms)
        self.coordinator = GroupCoordinator(store, GroupSettings(), self.clock)
        self.loop = asyncio.new_event_loop()
        self.problems: list[dict[str, object]] = []
        self.loop.set_exception_handler(lambda _, context: self.problems.append(context))
        self.clients = [Client(), Client(), Client("s2"), Client("s3")]
        self.transitions: list[tuple[GroupState, GroupState]] = []
        self.generations: dict[Group, int] = {}
        self._original = Group.transition_to
        machine = self

        def recording(group: Group, target: GroupState, now_ms: int) -> None:
            machine.transitions.append((group.state, target))
            machine._original(group, target, now_ms)

        Group.transition_to = recording  # type: ignore[method-assign]

    def teardown(self) -> None:
        Group.transition_to = self._original  # type: ignore[method-assign]
        self.coordinator.close()
        self._settle()
        self.loop.close()
        for partition in self.partitions:
            partition.log.close()
        shutil.rmtree(self.directory)

    # ---- driving ------------------------------------------------------------------------

    def _settle(self) -> None:
        async def settle() -> None:
            for _ in range(5):
                await asyncio.sleep(0)

        self.loop.run_until_complete(settle())
        group = self.coordinator._groups.get(GROUP)
        for client in self.clients:
            if group is not None and client.instance_id in group.static_members:
                client.former_ids.add(group.static_members[client.instance_id])
            self._harvest(client)

    def _harvest(self, client: Client) -> None:
        if client.join is not None and client.join.done():
            task, client.join = client.join, None
            if task.cancelled():
                return
            result = task.result()
            if result.error_code in (E.none, E.member_id_required):
                client.member_id = result.member_id
                client.former_ids.add(result.member_id)
            if result.error_code is E.none:
                client.generation = result.generation_id
                client.members = [m.member_id for m in result.members]
            elif result.error_code in (E.unknown_member_id, E.fenced_instance_id):
                client.member_id, client.generation = "", -1  # as clients do: start afresh
        if client.sync is not None and client.sync.done():
            task, client.sync = client.sync, None
            if not task.cancelled() and task.result().error_code is E.none:
                expected = {f"{client.generation}:{m}".encode() for m in client.former_ids}
                assert task.result().assignment in {b"", *expected}

    def _start(self, coroutine) -> asyncio.Task:
        return self.loop.create_task(coroutine)

    # ---- rules --------------------------------------------------------------------------

    @rule(
        index=st.integers(0, 3),
        require_known=st.booleans(),
        protocols=st.sampled_from(PROTOCOLS),
        rebalance_ms=st.sampled_from([2000, 20_000]),
    )
    def join(self, index, require_known, protocols, rebalance_ms):
        client = self.clients[index]
        if client.join is None:
            client.protocols = protocols
            client.join = self._start(
                self.coordinator.join(
                    GROUP,
                    client.member_id,
                    client.instance_id,
                    f"c{index}",
                    "/h",
                    "consumer",
                    protocols,
                    SESSION_MS,
                    rebalance_ms,
                    require_known,
                )
            )
        self._settle()

    @rule(index=st.sampled_from([2, 3]))
    def restart(self, index):
        """A static client's process restarts: its requests die, it joins with no member id."""
        client = self.clients[index]
        for task in (client.join, client.sync):
            if task is not None:
                task.cancel()
        self._settle()
        group = self.coordinator._groups.get(GROUP)
        known = group is not None and client.instance_id in group.static_members
        member = group.members[group.static_members[client.instance_id]] if known else None
        quiet = (
            member is not None
            and group.state is GroupState.STABLE
            and member.protocols == client.protocols
        )
        generation = group.generation if group is not None else None
        client.member_id, client.generation = "", -1
        client.join = self._start(
            self.coordinator.join(
                GROUP, "", client.instance_id, f"c{index}", "/h", "consumer",
                client.protocols or PROTOCOLS[0], SESSION_MS, 20_000, True,
            )
        )  # fmt: skip
        self._settle()
        if quiet:
            assert client.generation == generation, "a quiet restart must not rebalance"
            assert group.state is GroupState.STABLE

    @rule(index=st.integers(0, 3))
    def sync(self, index):
        self._sync(self.clients[index])
        self._settle()

    @rule()
    def everyone_syncs(self):
        for client in self.clients:
            self._sync(client)
        self._settle()

    def _sync(self, client: Client) -> None:
        if client.sync is None and client.member_id:
            generation = client.generation
            assignments = {m: f"{generation}:{m}".encode() for m in client.members}
            client.sync = self._start(
                self.coordinator.sync(
                    GROUP,
                    client.member_id,
                    generation,
                    client.instance_id,
                    "consumer",
                    None,
                    assignments,
                )
            )

    @rule(index=st.integers(0, 3))
    def heartbeat(self, index):
        client = self.clients[index]
        answer = self.coordinator.heartbeat(
            GROUP, client.member_id, client.generation, client.instance_id
        )
        assert answer in (
            E.none,
            E.rebalance_in_progress,
            E.illegal_generation,
            E.unknown_member_id,
            E.fenced_instance_id,
        )
        if answer in (E.unknown_member_id, E.fenced_instance_id):
            client.member_id, client.generation = "", -1

    @rule(index=st.integers(0, 3))
    def leave(self, index):
        client = self.clients[index]
        self.coordinator.leave(GROUP, [(client.member_id, client.instance_id)])
        client.member_id, client.generation = "", -1
        self._settle()

    @rule(index=st.integers(0, 3), simple=st.booleans())
    def commit(self, index, simple):
        client = self.clients[index]
        entry = CommitEntry("t", index, self.clock.now, 0, "")
        if simple:
            errors = self.coordinator.commit(GROUP, -1, "", None, [entry])
        else:
            errors = self.coordinator.commit(
                GROUP, client.generation, client.member_id, client.instance_id, [entry]
            )
        if errors == [E.none]:
            assert self.coordinator.fetch(GROUP, [("t", index)])[0].offset == self.clock.now

    @rule(index=st.integers(0, 3))
    def lose_connection(self, index):
        client = self.clients[index]
        for task in (client.join, client.sync):
            if task is not None:
                task.cancel()
        self._settle()

    @rule(ms=st.sampled_from([50, 300, 1000, 2500, SESSION_MS, 30_000]))
    def advance(self, ms):
        self._settle()
        self.clock.advance(ms)
        self._settle()

    @precondition(lambda self: self.coordinator.describe(GROUP).state_name == "Empty")
    @rule()
    def delete(self):
        assert self.coordinator.delete([GROUP]) == {GROUP: E.none}
        assert self.coordinator.describe(GROUP).state_name == "Dead"

    # ---- invariants ---------------------------------------------------------------------

    @invariant()
    def loop_reported_nothing(self):
        assert not self.problems, self.problems

    @invariant()
    def every_transition_taken_is_in_the_table(self):
        for before, after in self.transitions:
            assert after in TRANSITIONS[before], (before, after)

    @invariant()
    def the_group_is_consistent(self):
        group = self.coordinator._groups.get(GROUP)
        if group is None:
            return
        state = group.state
        assert state in TRANSITIONS and state is not GroupState.DEAD
        assert group.generation >= self.generations.get(group, 0)
        self.generations[group] = group.generation
        members = group.members
        assert (group.leader is None) == (not members)
        assert group.leader is None or group.leader in members
        for member in members.values():
            timer = member.session_timer
            assert timer is not None and not timer.cancelled
            if state is not GroupState.PREPARING_REBALANCE:
                assert member.join_waiter is None
            if state is not GroupState.COMPLETING_REBALANCE:
                assert member.sync_waiter is None
        assert (group.join_timer is not None) == (state is GroupState.PREPARING_REBALANCE)
        if state is GroupState.EMPTY:
            assert not members and group.protocol_name is None
        if state in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE):
            assert members and group.protocol_name is not None
        static = {m.group_instance_id: m.member_id for m in members.values() if m.group_instance_id}
        assert group.static_members == static
        if state is GroupState.STABLE:
            for member_id, member in members.items():
                client = next(
                    (c for c in self.clients if c.instance_id == member.group_instance_id), None
                )
                ids = client.former_ids if member.group_instance_id else {member_id}
                assert member.assignment in {f"{group.generation}:{i}".encode() for i in ids}


GroupMachine.TestCase.settings = settings(
    max_examples=examples(50, 150), stateful_step_count=50, deadline=None, print_blob=True
)
TestGroupMachine = GroupMachine.TestCase
