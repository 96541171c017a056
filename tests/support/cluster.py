"""A cluster of bundled brokers as real subprocesses, the way the cluster tests meet it.

``Cluster(folder, brokers=3, controllers=1, config={...})`` lays the nodes out exactly as
``chirpstream cluster`` does (its ``NodeLayout`` and ``node_properties``), but on free ports
picked at random, and starts every node as ``python -m broker node-<k>/server.properties``.
Each node keeps its output in ``node-<k>/node.log``; give ``cluster.nodes`` to
``request.node.brokers`` and a failing test shows every node's log.

What a node thinks of a partition is read with a Metadata request sent straight to that node
(``view``), so a test can tell a stale view from a fresh one by the leader epoch: ``leader``
and ``isr`` trust the freshest view of the nodes that can answer. The harness signals only
the processes it started.
"""

from __future__ import annotations

import random
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode

from chirpstream.cluster import NodeLayout, node_properties, write_properties
from chirpstream.up import LOWEST_FREE_PORT, ephemeral_ports_start
from tests.support.broker_process import BrokerProcess, broker_command, stop_together
from tests.support.proxy import ProxyThread
from tests.support.waiting import eventually
from tests.support.wire import WireClient

NO_LEADER = -1
# How long a cluster gets to settle (a leader, a full ISR): far more than it takes, because
# the machine running the tests may be busy with other work and a test must not fail on time.
SLOW_S = 90.0
# Light for 2 cores: one __consumer_offsets partition instead of Kafka's 50.
DEFAULTS = {"offsets.topic.num.partitions": "1"}


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago, below the kernel's ephemeral
    range (as ``chirpstream up --broker-port 0`` picks them): a node restarted on its ports
    must not find one taken as the source port of some client's connection."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(LOWEST_FREE_PORT, ephemeral_ports_start())
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in chosen:
            chosen.append(port)
    return chosen


@dataclass(frozen=True)
class PartitionView:
    """One partition as one node's Metadata answer shows it."""

    node: int  # who answered
    error: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline: tuple[int, ...]


class NodeProcess(BrokerProcess):
    """One node: ``python -m broker <its server.properties>``."""

    READY = re.compile(r"^READY (?:broker )?node=\d+\b")

    def __init__(self, layout: NodeLayout) -> None:
        super().__init__(layout.data_dir, layout.log_path, port=layout.client_port or 0)
        self.layout = layout
        self.paused = False

    @property
    def node_id(self) -> int:
        return self.layout.node_id

    def command(self) -> list[str]:
        return broker_command(str(self.layout.properties_path))

    def pause(self) -> None:
        super().pause()
        self.paused = True

    def resume(self) -> None:
        super().resume()
        self.paused = False

    @property
    def answering(self) -> bool:
        """Running and not paused: a request to it gets an answer."""
        return self.running and not self.paused


class Cluster:
    """``brokers`` broker nodes (ids 0..brokers-1) and a quorum of ``controllers`` voters:
    the first brokers (combined nodes, as ``chirpstream cluster`` runs them) or, with
    ``dedicated_controllers``, controller-only nodes with the ids after the brokers (Kafka's
    isolated mode, so a test can kill any broker without touching the quorum).

    With ``proxied``, every node reaches every other voter through its own ``ChaosProxy``
    (``links[(from, to)]``), so a test can cut the quorum's links: ``isolate(node)``
    blackholes each link to and from ``node``, ``heal()`` lets everything through again.
    Clients and replica fetches still connect directly."""

    def __init__(
        self,
        folder: Path,
        brokers: int = 3,
        controllers: int = 1,
        config: Mapping[str, str] | None = None,
        *,
        dedicated_controllers: bool = False,
        proxied: bool = False,
    ) -> None:
        nodes = brokers + controllers if dedicated_controllers else brokers
        first_voter = brokers if dedicated_controllers else 0
        ports = free_ports(nodes + controllers)
        layouts = [
            NodeLayout(
                node_id=k,
                client_port=ports[k] if k < brokers else None,
                controller_port=ports[nodes + k - first_voter]
                if first_voter <= k < first_voter + controllers
                else None,
                folder=folder / f"node-{k}",
            )
            for k in range(nodes)
        ]
        settings = {**DEFAULTS, **(config or {})}
        self.links: dict[tuple[int, int], ProxyThread] = {}
        for layout in layouts:
            own = dict(settings)
            if proxied:
                own["controller.quorum.voters"] = self._proxied_voters(layout, layouts)
            write_properties(layout, layouts, node_properties(layout, layouts, own))
        self.nodes = [NodeProcess(layout) for layout in layouts]

    def _proxied_voters(self, node: NodeLayout, layouts: list[NodeLayout]) -> str:
        """``controller.quorum.voters`` for ``node``: itself as it listens, every other voter
        through a new proxy on the link from ``node`` to it."""
        entries = []
        for voter in (v for v in layouts if v.voter):
            assert voter.controller_port is not None
            port = voter.controller_port
            if voter is not node:
                link = ProxyThread(("127.0.0.1", port))
                self.links[node.node_id, voter.node_id] = link
                port = link.port
            entries.append(f"{voter.node_id}@127.0.0.1:{port}")
        return ",".join(entries)

    def isolate(self, node_id: int) -> None:
        """Blackhole every quorum link to and from ``node_id``."""
        for (source, target), link in self.links.items():
            if node_id in (source, target):
                link.blackhole()

    def heal(self) -> None:
        for link in self.links.values():
            link.heal()

    @property
    def brokers(self) -> list[NodeProcess]:
        return [node for node in self.nodes if node.layout.broker]

    # -- the whole cluster ----------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> Cluster:
        """Start every node at once and wait for all of them to be ready."""
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_ready(timeout)
        # A broker is ready before the others have seen it unfenced, and a client told
        # "no controller" then (controller_id -1) waits for its next metadata refresh.
        every = {node.node_id for node in self.brokers}
        eventually(
            lambda: all(self.brokers_seen(node_id) == every for node_id in every),
            "every broker sees every broker unfenced",
            timeout,
        )
        return self

    def stop(self) -> None:
        """Stop every node the test left running with SIGTERM (SIGKILL if it does not stop
        within 10 s): the brokers that are not voters together, while the quorum is up to
        take their controlled shutdowns, then the voters one at a time."""
        for node in self.nodes:
            if node.paused:
                node.resume()
        stop_together([node for node in self.nodes if not node.layout.voter])
        for node in sorted((n for n in self.nodes if n.layout.voter), key=lambda n: -n.node_id):
            node.stop()
        for link in self.links.values():
            link.close()

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.brokers)

    def node(self, node_id: int) -> NodeProcess:
        return self.nodes[node_id]

    def logs(self) -> str:
        return "\n".join(f"--- node {n.node_id} ---\n{n.read_log()[-20000:]}" for n in self.nodes)

    def create_topic(
        self,
        topic: str,
        partitions: int = 1,
        replication: int = 3,
        *,
        assignment: list[list[int]] | None = None,
        **config: str,
    ) -> None:
        """Create ``topic`` through the Admin API and wait until every broker that answers
        sees a leader for each partition."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        spec = (
            NewTopic(topic, len(assignment), replica_assignment=assignment, config=config)
            if assignment
            else NewTopic(topic, partitions, replication, config=config)
        )
        admin.create_topics([spec])[topic].result(30)
        count = len(assignment) if assignment else partitions
        for partition in range(count):
            eventually(
                lambda p=partition: (
                    (views := list(self.views(topic, p)))
                    and len(views) == sum(n.answering for n in self.brokers)
                    and all(v.leader >= 0 for v in views)
                ),
                f"every broker sees a leader of {topic}-{partition}",
                SLOW_S,
            )

    # -- faults ---------------------------------------------------------------------------------

    def kill(self, node_id: int) -> None:
        """SIGKILL: a crash."""
        self.node(node_id).kill()

    def terminate(self, node_id: int) -> int:
        """SIGTERM and wait: a controlled shutdown. Returns the exit code."""
        return self.node(node_id).term()

    def pause(self, node_id: int) -> None:
        """SIGSTOP: a node that hangs (a long GC pause, a frozen VM)."""
        self.node(node_id).pause()

    def resume(self, node_id: int) -> None:
        self.node(node_id).resume()

    def restart(self, node_id: int, *, clean: bool = True, timeout: float = 60.0) -> None:
        """Stop (SIGTERM when clean, else SIGKILL) unless already stopped, then start on the
        same data directory and ports."""
        node = self.node(node_id)
        if node.running:
            node.resume()
            if clean:
                node.term()
            else:
                node.kill()
        node.start(timeout)

    def start_node(self, node_id: int, timeout: float = 60.0) -> None:
        """Start a node that was stopped, on its data directory and ports."""
        assert not self.node(node_id).running, f"node {node_id} is running"
        self.node(node_id).start(timeout)

    # -- what the nodes think -------------------------------------------------------------------

    def metadata(self, node_id: int, topics: list[str]) -> Any | None:
        """Node ``node_id``'s Metadata answer (v12) for ``topics``; None if it cannot answer."""
        try:
            with WireClient(self.node(node_id).port, timeout=2.0) as client:
                return client.request(
                    3,
                    12,
                    {
                        "topics": [{"name": topic, "topic_id": None} for topic in topics],
                        "allow_auto_topic_creation": False,
                        "include_topic_authorized_operations": False,
                    },
                )
        except OSError:
            return None

    def brokers_seen(self, node_id: int) -> set[int]:
        """The brokers node ``node_id``'s Metadata lists (the unfenced ones)."""
        answer = self.metadata(node_id, [])
        return set() if answer is None else {int(broker.node_id) for broker in answer.brokers}

    def view(self, node_id: int, topic: str, partition: int) -> PartitionView | None:
        """``topic``/``partition`` as node ``node_id`` sees it; None if it cannot answer."""
        answer = self.metadata(node_id, [topic])
        if answer is None:
            return None
        for found in answer.topics:
            for p in found.partitions:
                if p.partition_index == partition:
                    return PartitionView(
                        node=node_id,
                        error=int(p.error_code),
                        leader=int(p.leader_id),
                        leader_epoch=int(p.leader_epoch),
                        replicas=tuple(int(r) for r in p.replica_nodes),
                        isr=tuple(int(r) for r in p.isr_nodes),
                        offline=tuple(int(r) for r in p.offline_replicas),
                    )
        return None

    def views(self, topic: str, partition: int) -> Iterator[PartitionView]:
        for node in self.brokers:
            if node.answering and (seen := self.view(node.node_id, topic, partition)):
                yield seen

    def freshest(self, topic: str, partition: int) -> PartitionView | None:
        """The view with the highest leader epoch among the nodes that answer."""
        return max(self.views(topic, partition), key=lambda v: v.leader_epoch, default=None)

    def leader(self, topic: str, partition: int) -> int:
        """The leader in the freshest view, or -1 (none, or no node answers)."""
        seen = self.freshest(topic, partition)
        return seen.leader if seen else NO_LEADER

    def isr(self, topic: str, partition: int) -> tuple[int, ...]:
        """The ISR as the leader itself sees it (it is the one whose ISR changes), else as
        the freshest view shows it."""
        seen = self.freshest(topic, partition)
        if seen is None:
            return ()
        if seen.leader >= 0 and self.node(seen.leader).answering:
            own = self.view(seen.leader, topic, partition)
            if own is not None and own.leader == seen.leader:
                return own.isr
        return seen.isr

    def wait_for_leader(
        self, topic: str, partition: int, *, not_: int | None = None, timeout: float = SLOW_S
    ) -> int:
        """Wait until a running node other than ``not_`` leads the partition and knows it;
        return its id."""

        def settled() -> int | None:
            seen = self.freshest(topic, partition)
            if seen is None or seen.leader in (NO_LEADER, not_):
                return None
            if not self.node(seen.leader).answering:
                return None
            own = self.view(seen.leader, topic, partition)
            if own is None or (own.leader, own.leader_epoch) != (seen.leader, seen.leader_epoch):
                return None
            return seen.leader + 1  # eventually() wants a truthy value; node 0 is falsy

        what = f"a leader of {topic}-{partition} other than {not_}"
        return eventually(settled, what, timeout) - 1

    def quorum_view(self, node_id: int) -> tuple[bool, int, int] | None:
        """(whether it leads, the leader it names, the epoch) from DescribeQuorum on voter
        ``node_id``'s controller listener; None when it cannot answer."""
        node = self.node(node_id)
        if not (node.layout.voter and node.answering):
            return None
        try:
            with WireClient(node.layout.controller_port or 0, timeout=2.0) as client:
                answer = client.request(55, 1, {"topics": [{
                    "topic_name": "__cluster_metadata",
                    "partitions": [{"partition_index": 0}],
                }]})  # fmt: skip
        except OSError:
            return None
        quorum = answer.topics[0].partitions[0]
        leads = quorum.error_code == ErrorCode.none
        return leads, int(quorum.leader_id), int(quorum.leader_epoch)

    def controller(self) -> int:
        """The active controller: the quorum's leader as the voters name it, a leader's own
        answer first, then the highest epoch; -1 when no voter answers or none is elected."""
        views = [v for n in self.nodes if (v := self.quorum_view(n.node_id)) is not None]
        if not views:
            return NO_LEADER
        _, leader, _ = max(views, key=lambda view: (view[0], view[2]))
        return leader
