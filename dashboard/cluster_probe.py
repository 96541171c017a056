"""The collector's view of the cluster itself: what Kafka's protocol tells any client, asked
with the project's own wire client (``broker.net.client``) because confluent-kafka's Admin
API does not expose it.

- Metadata v12: per partition the leader, its leader epoch, replicas, ISR, offline replicas,
  and the unfenced brokers;
- DescribeCluster v2 with ``include_fenced_brokers``: every registered broker, fenced or not,
  and the controller;
- ApiVersions to each broker, which tells a broker that answers from one that accepts a
  connection but never answers (paused or hung) and one that refuses it (stopped);
- DescribeQuorum to a controller listener (``--bootstrap-controller``, then the voters it
  names): the quorum's leader (the active controller, the only one named when controllers
  are given), epoch, high watermark and each replica's lag;
- ListOffsets v7 (earliest and latest, read_uncommitted: the high watermark) to each
  partition's leader as this view names it, all leaders at once (``offsets``): a leader that
  just went down costs nothing once the view shows another, where a client still routing by
  its cached metadata would wait out its request timeout;
- ListOffsets latest with Kafka's debugging replica id (-2) to every broker holding a replica
  (``log_ends``): each replica answers from its own log, up to its log end offset (Kafka's
  ``fetchOnlyFromLeader`` is false for that id), so the log strip can show how far each
  follower has copied. A replica that does not answer is left out;
- FindCoordinator and OffsetFetch v7 (``committed``): a group's committed offsets, from its
  coordinator; OffsetCommit v8 (``commit``) as a client outside the group (generation -1, no
  member id), as Kafka's ``Admin.alterConsumerGroupOffsets`` commits;
- ListGroups v4 to every running broker (each lists the groups it coordinates), FindCoordinator
  for all of them (batched, v4, where the broker's ApiVersions offers it; else one v3 request
  per group) and DescribeGroups v5 to each coordinator for its groups (``groups``): state,
  protocol, members with their assignments (``dashboard.consumer_protocol``). Only consumer
  groups (protocol type ``consumer``, or none: a group that only commits offsets), as
  Kafka's ``Admin.listConsumerGroups`` lists them. A group whose coordinator is not found or
  does not describe it (it is moving, as while a broker restarts) is left out of that answer.
  ``group_ids`` is the listing alone (``kafka-consumer-groups.sh --list``), ``group`` one
  group as its coordinator describes it (``--describe``).

Each question goes to the node that answered last, then to the others; a node that does not
answer within ``timeout_s`` is passed over. ApiVersions and DescribeQuorum wait ``PING_S`` at
most, so a paused broker or controller costs each sample that long. The wire client speaks
PLAINTEXT only: against a cluster that needs TLS or SASL the probe answers None and the
collector falls back to what confluent-kafka shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kio.schema.api_versions.v0.request import ApiVersionsRequest
from kio.schema.describe_cluster.v2.request import DescribeClusterRequest
from kio.schema.describe_groups.v5.request import DescribeGroupsRequest
from kio.schema.describe_quorum.v2.request import DescribeQuorumRequest, PartitionData, TopicData
from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v3.request import FindCoordinatorRequest
from kio.schema.find_coordinator.v4.request import (
    FindCoordinatorRequest as BatchedFindCoordinatorRequest,
)
from kio.schema.list_groups.v4.request import ListGroupsRequest
from kio.schema.list_offsets.v7.request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kio.schema.metadata.v12.request import MetadataRequest
from kio.schema.offset_commit.v8.request import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from kio.schema.offset_fetch.v7.request import OffsetFetchRequest, OffsetFetchRequestTopic

from broker.net.client import ClientError, KafkaClient
from dashboard.consumer_protocol import AssignmentError, assigned_partitions, state_name
from dashboard.rows import BrokerRow, MemberRow, PartitionRow, QuorumReplica, QuorumRow

log = logging.getLogger(__name__)
CLIENT_ID = "chirpstream-dashboard"
METADATA_TOPIC = "__cluster_metadata"
_METADATA = MetadataRequest(
    topics=None, allow_auto_topic_creation=False, include_topic_authorized_operations=False
)
_DESCRIBE_CLUSTER = DescribeClusterRequest(
    include_cluster_authorized_operations=False, endpoint_type=1, include_fenced_brokers=True
)
_DESCRIBE_QUORUM = DescribeQuorumRequest(
    topics=(TopicData(topic_name=METADATA_TOPIC, partitions=(PartitionData(partition_index=0),)),)
)
_API_VERSIONS = ApiVersionsRequest()
_LIST_GROUPS = ListGroupsRequest(states_filter=())
FIND_COORDINATOR, BATCHED_FROM = 10, 4  # FindCoordinator's API key; batched from v4 (KIP-699)
GROUP_KEY = 0  # FindCoordinator's key type of a group
CONSUMER_PROTOCOLS = ("consumer", "")  # the protocol types of consumer groups
PING_S = 1.0  # a broker that accepts a connection but does not answer within this is paused
EARLIEST, LATEST = -2, -1  # ListOffsets' timestamps for the log start and the high watermark
CONSUMER, DEBUGGING = -1, -2  # ListOffsets' replica ids: a client's (to the HW), a debugger's

Address = tuple[str, int]


@dataclass(frozen=True)
class ClusterView:
    """Brokers (with state and the active controller marked), partitions (offsets unset) of
    every topic, and the quorum (None when no controller answered)."""

    brokers: list[BrokerRow]
    partitions: list[PartitionRow]
    quorum: QuorumRow | None


@dataclass(frozen=True)
class GroupInfo:
    """A consumer group as its coordinator describes it: ``state`` as confluent-kafka's
    ``ConsumerGroupState`` names it, ``protocol_type`` "" for a group that only commits
    offsets, ``assignor`` the assignment strategy its members chose."""

    group_id: str
    state: str
    protocol_type: str
    assignor: str
    members: list[MemberRow]
    coordinator: Address | None = None  # the broker that described it


def speaks(client_config: Mapping[str, Any]) -> bool:
    """Whether the probe can ask the cluster these librdkafka settings reach: PLAINTEXT (the
    default) only; where not, librdkafka's clients ask."""
    return str(client_config.get("security.protocol", "plaintext")).lower() == "plaintext"


def parse_addresses(text: str | None) -> list[Address]:
    """``host:port,host:port`` as a list (entries that are not HOST:PORT are skipped)."""
    found = []
    for entry in (text or "").split(","):
        host, _, port = entry.strip().rpartition(":")
        if host and port.isdigit():
            found.append((host, int(port)))
    return found


class ClusterProbe:
    """Asks the cluster at ``bootstrap`` (and its controllers at ``controllers``) for a
    ``ClusterView``; one connection per node, kept between samples."""

    def __init__(self, bootstrap: str, controllers: str | None, timeout_s: float = 3.0) -> None:
        self.timeout_s = timeout_s
        self.ping_s = min(timeout_s, PING_S)
        self._brokers: list[Address] = parse_addresses(bootstrap)
        self._controllers: list[Address] = parse_addresses(controllers)
        self._known: dict[int, Address] = {}  # broker id -> address, every broker seen
        self._versions: dict[Address, dict[int, int]] = {}  # API key -> max version, per node
        self._clients: dict[Address, KafkaClient] = {}
        self._loop = asyncio.new_event_loop()

    def view(self) -> ClusterView | None:
        """The cluster as it answers now; None when no broker answered Metadata."""
        return self._loop.run_until_complete(self._view())

    def offsets(
        self, view: ClusterView, partitions: Sequence[PartitionRow]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        """(log start, high watermark) of each of ``partitions`` whose leader answered."""
        return self._loop.run_until_complete(self._offsets(view, partitions))

    def log_ends(
        self, view: ClusterView, partitions: Sequence[PartitionRow]
    ) -> dict[tuple[str, int], tuple[tuple[int, int], ...]]:
        """Each of ``partitions``' replicas that answered: (replica, its log end offset)."""
        return self._loop.run_until_complete(self._log_ends(view, partitions))

    def committed(
        self, group: str, partitions: Sequence[tuple[str, int]] | None = None
    ) -> dict[tuple[str, int], int] | None:
        """``group``'s committed offset of each of ``partitions`` (-1: none committed; None:
        every partition it committed), asked of its coordinator; None when no coordinator
        answered."""
        return self._loop.run_until_complete(self._committed(group, partitions))

    def commit(
        self, group: str, offsets: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], ErrorCode] | None:
        """Commit ``offsets`` for ``group`` at its coordinator: each partition's error (none:
        committed); None when no coordinator answered."""
        return self._loop.run_until_complete(self._commit(group, offsets))

    def groups(self, view: ClusterView, skip: Iterable[str] = ()) -> list[GroupInfo] | None:
        """Every consumer group (but ``skip``) that the running brokers of ``view`` list, as
        its coordinator describes it, by group id; None when no broker answered ListGroups."""
        return self._loop.run_until_complete(self._groups(view, frozenset(skip)))

    def group_ids(self, view: ClusterView) -> list[str] | None:
        """The consumer groups the running brokers of ``view`` list, sorted; None when no
        broker answered ListGroups."""
        running = [(b.host, b.port) for b in view.brokers if b.state == "running"]
        listed = self._loop.run_until_complete(self._listed(running, frozenset()))
        return None if listed is None else sorted(listed)

    def group(self, group_id: str) -> GroupInfo | None:
        """``group_id`` as its coordinator describes it (a group it does not know is "DEAD",
        as in Kafka); None when no coordinator answered."""
        return self._loop.run_until_complete(self._group(group_id))

    def close(self) -> None:
        for client in self._clients.values():
            self._loop.run_until_complete(client.close())
        self._clients.clear()
        self._loop.close()

    # -- asking ------------------------------------------------------------------------

    def _client(self, address: Address) -> KafkaClient:
        if address not in self._clients:
            self._clients[address] = KafkaClient(*address, client_id=CLIENT_ID)
        return self._clients[address]

    async def _ask(self, address: Address, body: Any, timeout_s: float | None = None) -> Any:
        return await self._client(address).request(body, timeout_s=timeout_s or self.timeout_s)

    async def _first(
        self, addresses: list[Address], body: Any, timeout_s: float | None = None
    ) -> tuple[Address, Any] | None:
        """The first answer of ``addresses`` in order; the one that answered moves first."""
        for address in list(addresses):
            try:
                answer = await self._ask(address, body, timeout_s)
            except ClientError as exc:
                log.debug("%s: %s", address, exc)
                continue
            addresses.remove(address)
            addresses.insert(0, address)
            return address, answer
        return None

    async def _view(self) -> ClusterView | None:
        candidates = _unique([*self._brokers, *self._known.values()])
        self._brokers = candidates
        got = await self._first(self._brokers, _METADATA)
        if got is None:
            return None
        address, metadata = got
        try:
            described = await self._ask(address, _DESCRIBE_CLUSTER)
        except ClientError:
            described = None
        if described is not None and described.error_code is not ErrorCode.none:
            described = None
        fenced: dict[int, bool] = {}
        for node in metadata.brokers:
            self._known[node.node_id] = (node.host, node.port)
            fenced[node.node_id] = False
        if described is not None:
            for node in described.brokers:
                self._known[node.broker_id] = (node.host, node.port)
                fenced[node.broker_id] = node.is_fenced
        ids = sorted(self._known)
        states, quorum = await asyncio.gather(
            asyncio.gather(*(self._state(self._known[i], fenced.get(i)) for i in ids)),
            self._quorum(),
        )
        # With controllers named, only the quorum's leader is the active controller (none
        # when no leader answered): a KRaft broker's Metadata names a random live broker, or
        # here the last controller it knew, dead or not. Without, Metadata's is all there is
        # (a single-node broker names itself).
        controller = metadata.controller_id if not self._controllers else None
        if quorum is not None:
            controller = quorum.leader_id
        brokers = [
            BrokerRow(i, *self._known[i], up=i in fenced, state=s, controller=i == controller)
            for i, s in zip(ids, states, strict=True)
        ]
        partitions = [
            PartitionRow(
                str(topic.name),
                int(p.partition_index),
                int(p.leader_id),
                [int(n) for n in p.replica_nodes],
                [int(n) for n in p.isr_nodes],
                None,
                None,
                leader_epoch=int(p.leader_epoch),
                offline=[int(n) for n in p.offline_replicas],
            )
            for topic in metadata.topics
            if topic.error_code is ErrorCode.none
            for p in topic.partitions
        ]
        return ClusterView(brokers, partitions, quorum)

    async def _offsets(
        self, view: ClusterView, partitions: Sequence[PartitionRow]
    ) -> dict[tuple[str, int], tuple[int, int]]:
        addresses = {b.node_id: (b.host, b.port) for b in view.brokers}
        by_leader: dict[int, list[PartitionRow]] = {}
        for part in partitions:
            if part.leader in addresses:
                by_leader.setdefault(part.leader, []).append(part)
        asked = [(leader, spec) for leader in sorted(by_leader) for spec in (EARLIEST, LATEST)]
        answers = await asyncio.gather(
            *(
                self._ask(addresses[leader], _list_offsets(by_leader[leader], spec))
                for leader, spec in asked
            ),
            return_exceptions=True,
        )
        found: dict[tuple[str, int], dict[int, int]] = {}
        for (_, spec), answer in zip(asked, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, ClientError):
                    raise answer
                continue
            for topic in answer.topics:
                for p in topic.partitions:
                    if p.error_code is ErrorCode.none:
                        found.setdefault((str(topic.name), int(p.partition_index)), {})[spec] = int(
                            p.offset
                        )
        return {
            key: (specs[EARLIEST], specs[LATEST]) for key, specs in found.items() if len(specs) == 2
        }

    async def _log_ends(
        self, view: ClusterView, partitions: Sequence[PartitionRow]
    ) -> dict[tuple[str, int], tuple[tuple[int, int], ...]]:
        addresses = {b.node_id: (b.host, b.port) for b in view.brokers if b.state == "running"}
        held: dict[int, list[PartitionRow]] = {}
        for part in partitions:
            for replica in part.replicas:
                if replica in addresses:
                    held.setdefault(replica, []).append(part)
        nodes = sorted(held)
        answers = await asyncio.gather(
            *(
                self._ask(addresses[n], _list_offsets(held[n], LATEST, DEBUGGING, epoch=False))
                for n in nodes
            ),
            return_exceptions=True,
        )
        found: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for node, answer in zip(nodes, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, ClientError):
                    raise answer
                continue
            for topic in answer.topics:
                for p in topic.partitions:
                    if p.error_code is ErrorCode.none:
                        key = (str(topic.name), int(p.partition_index))
                        found.setdefault(key, []).append((node, int(p.offset)))
        return {key: tuple(ends) for key, ends in found.items()}

    async def _coordinator(self, group: str) -> Address | None:
        """``group``'s coordinator, asked of the brokers in turn; None when none named it."""
        find = FindCoordinatorRequest(key=group, key_type=GROUP_KEY)
        got = await self._first(self._brokers, find)
        if got is None or got[1].error_code is not ErrorCode.none:
            return None
        return (got[1].host, int(got[1].port))

    async def _commit(
        self, group: str, offsets: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], ErrorCode] | None:
        coordinator = await self._coordinator(group)
        if coordinator is None:
            return None
        topics: dict[str, list[OffsetCommitRequestPartition]] = {}
        for (topic, partition), offset in sorted(offsets.items()):
            topics.setdefault(topic, []).append(
                OffsetCommitRequestPartition(
                    partition_index=partition, committed_offset=offset, committed_metadata=""
                )
            )
        request = OffsetCommitRequest(
            group_id=group,
            member_id="",
            topics=tuple(
                OffsetCommitRequestTopic(name=name, partitions=tuple(parts))
                for name, parts in topics.items()
            ),
        )
        try:
            answer = await self._ask(coordinator, request)
        except ClientError as exc:
            log.debug("%s: %s", coordinator, exc)
            return None
        return {
            (str(t.name), int(p.partition_index)): p.error_code
            for t in answer.topics
            for p in t.partitions
        }

    async def _committed(
        self, group: str, partitions: Sequence[tuple[str, int]] | None
    ) -> dict[tuple[str, int], int] | None:
        coordinator = await self._coordinator(group)
        if coordinator is None:
            return None
        topics = None
        if partitions is not None:
            wanted: dict[str, list[int]] = {}
            for topic, partition in partitions:
                wanted.setdefault(topic, []).append(partition)
            topics = tuple(
                OffsetFetchRequestTopic(name=topic, partition_indexes=tuple(indexes))
                for topic, indexes in wanted.items()
            )
        try:
            answer = await self._ask(coordinator, OffsetFetchRequest(group_id=group, topics=topics))
        except ClientError as exc:
            log.debug("%s: %s", coordinator, exc)
            return None
        if answer.error_code is not ErrorCode.none:
            return None
        found = {
            (str(t.name), int(p.partition_index)): int(p.committed_offset)
            for t in answer.topics
            for p in t.partitions
            if p.error_code is ErrorCode.none
        }
        if partitions is not None and len(found) < len(set(partitions)):
            return None
        return found

    async def _groups(self, view: ClusterView, skip: frozenset[str]) -> list[GroupInfo] | None:
        running = [(b.host, b.port) for b in view.brokers if b.state == "running"]
        listed = await self._listed(running, skip)
        if listed is None:
            return None
        ids = sorted(listed)
        coordinators = await self._coordinators(ids, running) if ids else {}
        by_coordinator: dict[Address, list[str]] = {}
        for group in ids:
            if group in coordinators:
                by_coordinator.setdefault(coordinators[group], []).append(group)
        asked = sorted(by_coordinator)
        described = await asyncio.gather(
            *(
                self._ask(
                    address,
                    DescribeGroupsRequest(
                        groups=tuple(by_coordinator[address]), include_authorized_operations=False
                    ),
                )
                for address in asked
            ),
            return_exceptions=True,
        )
        found: list[GroupInfo] = []
        for address, answer in zip(asked, described, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, ClientError):
                    raise answer
                log.info("describing groups at %s: %s", address, answer)
                continue
            for group in answer.groups:
                if group.error_code is ErrorCode.none:
                    found.append(_group_info(group, address))
                else:
                    log.info("describing %s: %s", group.group_id, group.error_code.name)
        return sorted(found, key=lambda g: g.group_id)

    async def _listed(self, running: list[Address], skip: frozenset[str]) -> set[str] | None:
        """The consumer groups (but ``skip``) that ``running`` list; None when none answered."""
        answers = await asyncio.gather(
            *(self._ask(address, _LIST_GROUPS) for address in running), return_exceptions=True
        )
        listed: set[str] = set()
        answered = False
        for address, answer in zip(running, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, ClientError):
                    raise answer
                log.info("listing groups of %s: %s", address, answer)
            elif answer.error_code is not ErrorCode.none:
                log.info("listing groups of %s: %s", address, answer.error_code.name)
            else:
                answered = True
                listed.update(
                    str(g.group_id)
                    for g in answer.groups
                    if g.protocol_type in CONSUMER_PROTOCOLS and g.group_id not in skip
                )
        return listed if answered else None

    async def _group(self, group_id: str) -> GroupInfo | None:
        coordinator = await self._coordinator(group_id)
        if coordinator is None:
            return None
        request = DescribeGroupsRequest(groups=(group_id,), include_authorized_operations=False)
        try:
            answer = await self._ask(coordinator, request)
        except ClientError as exc:
            log.debug("%s: %s", coordinator, exc)
            return None
        described = answer.groups[0] if answer.groups else None
        if described is None or described.error_code is not ErrorCode.none:
            return None
        return _group_info(described, coordinator)

    async def _coordinators(self, ids: list[str], addresses: list[Address]) -> dict[str, Address]:
        """The coordinator of each of ``ids`` that has one, asked of the first of
        ``addresses`` that answers."""
        for address in addresses:
            batched = self._versions.get(address, {}).get(FIND_COORDINATOR, 0) >= BATCHED_FROM
            try:
                if batched:
                    answer = await self._ask(
                        address,
                        BatchedFindCoordinatorRequest(
                            key_type=GROUP_KEY, coordinator_keys=tuple(ids)
                        ),
                    )
                    keyed = [(str(c.key), c) for c in answer.coordinators]
                else:
                    answers = await asyncio.gather(
                        *(
                            self._ask(address, FindCoordinatorRequest(key=g, key_type=GROUP_KEY))
                            for g in ids
                        )
                    )
                    keyed = list(zip(ids, answers, strict=True))
            except ClientError as exc:
                log.debug("%s: %s", address, exc)
                continue
            return {
                key: (c.host, int(c.port)) for key, c in keyed if c.error_code is ErrorCode.none
            }
        return {}

    async def _state(self, address: Address, fenced: bool | None) -> str:
        """running / fenced (answers; ``fenced`` None: not registered) / paused / stopped."""
        try:
            answer = await self._ask(address, _API_VERSIONS, self.ping_s)
        except ClientError as exc:
            return "paused" if isinstance(exc.__cause__, TimeoutError) else "stopped"
        if answer.error_code is ErrorCode.none:
            self._versions[address] = {int(k.api_key): int(k.max_version) for k in answer.api_keys}
        return "running" if fenced is False else "fenced"

    async def _quorum(self) -> QuorumRow | None:
        if not self._controllers:
            return None
        got = await self._first(self._controllers, _DESCRIBE_QUORUM, self.ping_s)
        if got is None:
            return None
        _, answer = got
        learned = [
            (listener.host, listener.port) for node in answer.nodes for listener in node.listeners
        ]
        self._controllers = _unique([*self._controllers, *learned])
        partition = _partition(answer)
        if partition is not None and partition.error_code is ErrorCode.not_leader_or_follower:
            leader = [
                (listener.host, listener.port)
                for node in answer.nodes
                if node.node_id == partition.leader_id
                for listener in node.listeners
            ]
            got = await self._first(leader, _DESCRIBE_QUORUM, self.ping_s) if leader else None
            partition = None if got is None else _partition(got[1])
        if partition is None or partition.error_code is not ErrorCode.none:
            return None
        return _quorum_row(partition)


def _list_offsets(
    partitions: Sequence[PartitionRow],
    timestamp: int,
    replica_id: int = CONSUMER,
    *,
    epoch: bool = True,
) -> ListOffsetsRequest:
    """ListOffsets of ``partitions`` at ``timestamp``; ``epoch``: with each one's leader
    epoch, so a stale leader refuses (a follower asked for its own log end must not)."""
    topics: dict[str, list[ListOffsetsPartition]] = {}
    for part in partitions:
        known = epoch and part.leader_epoch is not None
        topics.setdefault(part.topic, []).append(
            ListOffsetsPartition(
                partition_index=part.partition,
                current_leader_epoch=part.leader_epoch if known else -1,
                timestamp=timestamp,
            )
        )
    return ListOffsetsRequest(
        replica_id=replica_id,
        isolation_level=0,
        topics=tuple(
            ListOffsetsTopic(name=name, partitions=tuple(parts)) for name, parts in topics.items()
        ),
    )


def _group_info(group: Any, coordinator: Address) -> GroupInfo:
    members = []
    for member in group.members:
        try:
            assignment = assigned_partitions(member.member_assignment)
        except AssignmentError as exc:
            log.info("%s's member %s: %s", group.group_id, member.member_id, exc)
            assignment = []
        members.append(
            MemberRow(
                str(group.group_id),
                str(member.member_id),
                str(member.client_id),
                str(member.client_host),
                assignment,
            )
        )
    return GroupInfo(
        str(group.group_id),
        state_name(str(group.group_state)),
        str(group.protocol_type),
        str(group.protocol_data),
        members,
        coordinator,
    )


def _partition(answer: Any) -> Any:
    if answer.error_code is not ErrorCode.none or not answer.topics:
        return None
    partitions = answer.topics[0].partitions
    return partitions[0] if partitions else None


def _quorum_row(partition: Any) -> QuorumRow:
    voters = list(partition.current_voters)
    leader_end = max(
        (v.log_end_offset for v in voters if v.replica_id == partition.leader_id),
        default=partition.high_watermark,
    )

    def rows(replicas: Sequence[Any], role: str) -> list[QuorumReplica]:
        return [
            QuorumReplica(
                int(r.replica_id),
                "leader" if r.replica_id == partition.leader_id else role,
                int(r.log_end_offset),
                int(leader_end - r.log_end_offset),
                _time(r.last_fetch_timestamp),
                _time(r.last_caught_up_timestamp),
            )
            for r in replicas
        ]

    return QuorumRow(
        int(partition.leader_id),
        int(partition.leader_epoch),
        int(partition.high_watermark),
        rows(voters, "voter") + rows(partition.observers, "observer"),
    )


def _time(timestamp: int) -> int | None:
    return None if timestamp < 0 else int(timestamp)


def _unique(addresses: Iterable[Address]) -> list[Address]:
    return list(dict.fromkeys(addresses))


def librdkafka_group_info(group: str, desc: Any) -> GroupInfo:
    """librdkafka's ``ConsumerGroupDescription`` of ``group`` as the probe's ``GroupInfo``."""
    members = [
        MemberRow(
            group,
            member.member_id,
            member.client_id,
            member.host,
            sorted(
                (tp.topic, tp.partition)
                for tp in ([] if member.assignment is None else member.assignment.topic_partitions)
            ),
        )
        for member in desc.members
    ]
    return GroupInfo(
        group,
        getattr(desc.state, "name", str(desc.state)),
        "" if desc.is_simple_consumer_group else "consumer",
        desc.partition_assignor or "",
        members,
    )
