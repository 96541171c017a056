"""``chirpstream quorum --describe``: what ``kafka-metadata-quorum.sh describe`` prints.

``--status`` (the default): the cluster id, leader, epoch, high watermark, the largest follower
lag and how long it has lasted, the voters and the observers. ``--replication``: one row per
replica with its log end offset, its lag behind the leader, its last fetch and last caught-up
times, and whether it is the leader, a follower (voter) or an observer. Both come from
DescribeQuorum (55), sent to a controller's CONTROLLER listener (``--bootstrap-controller``); a
controller that is not the leader names it, and the question goes there. The cluster id comes
from DescribeCluster (60) for the controllers (KIP-919), as Kafka's tool asks
``describeCluster``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from kio.schema.describe_cluster.v1.request import DescribeClusterRequest
from kio.schema.describe_quorum.v2.request import DescribeQuorumRequest, PartitionData, TopicData
from kio.schema.errors import ErrorCode

from broker.raft.store import METADATA_TOPIC
from chirpstream.tools.common import CliError, ask_once, print_table, reporting_errors

DEFAULT_CONTROLLER = "127.0.0.1:9192"  # node 0's CONTROLLER listener in `chirpstream cluster`
ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA"  # Kafka's Uuid.ZERO_UUID: no directory id
CONTROLLER_ENDPOINT = 2  # DescribeCluster's EndpointType.CONTROLLER (KIP-919)

_REQUEST = DescribeQuorumRequest(
    topics=(TopicData(topic_name=METADATA_TOPIC, partitions=(PartitionData(partition_index=0),)),)
)


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-controller",
        default=DEFAULT_CONTROLLER,
        metavar="HOST:PORT",
        help=f"a controller's CONTROLLER listener (default {DEFAULT_CONTROLLER})",
    )
    parser.add_argument("--describe", action="store_true", help="describe the metadata quorum")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--status", action="store_true", help="leader, epoch, lag (default)")
    shown.add_argument("--replication", action="store_true", help="one row per replica")
    parser.add_argument(
        "--human-readable", action="store_true", help="times as 'N ms ago' (with --replication)"
    )


@reporting_errors
def main(args: argparse.Namespace) -> int:
    if not args.describe:
        raise CliError("say what to show: --describe [--status | --replication]")
    host, port = address(args.bootstrap_controller)
    if args.replication:
        _print_replication(asyncio.run(describe(host, port)), args.human_readable)
    else:
        cluster_id = asyncio.run(describe_cluster_id(host, port))
        _print_status(cluster_id, asyncio.run(describe(host, port)))
    return 0


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--bootstrap-controller {text!r} is not HOST:PORT")
    return host, int(port)


async def describe(host: str, port: int) -> Any:
    """The leader's DescribeQuorum answer (asking it directly if ``host:port`` is not it)."""
    answer = await _ask(host, port)
    partition = answer.topics[0].partitions[0]
    if partition.error_code is ErrorCode.not_leader_or_follower and partition.leader_id >= 0:
        for node in answer.nodes:
            if node.node_id == partition.leader_id and node.listeners:
                listener = node.listeners[0]
                answer = await _ask(listener.host, listener.port)
                partition = answer.topics[0].partitions[0]
                break
    if partition.error_code is ErrorCode.not_leader_or_follower:
        raise CliError(f"the quorum has no leader right now (epoch {partition.leader_epoch})")
    if partition.error_code is not ErrorCode.none:
        raise CliError(f"DescribeQuorum failed: {partition.error_code.name.upper()}")
    return answer


async def describe_cluster_id(host: str, port: int) -> str:
    """The cluster id, from the controller's DescribeCluster answer."""
    request = DescribeClusterRequest(
        include_cluster_authorized_operations=False, endpoint_type=CONTROLLER_ENDPOINT
    )
    answer = await _send(host, port, request)
    if answer.error_code is not ErrorCode.none:
        raise CliError(f"DescribeCluster failed: {answer.error_code.name.upper()}")
    return answer.cluster_id


async def _send(host: str, port: int, request: Any) -> Any:
    return await ask_once(
        host, port, request, client_id="chirpstream-quorum", node="the controller"
    )


async def _ask(host: str, port: int) -> Any:
    answer = await _send(host, port, _REQUEST)
    if answer.error_code is not ErrorCode.none or len(answer.topics) != 1:
        raise CliError(f"DescribeQuorum failed: {answer.error_code.name.upper()}")
    return answer


def _print_status(cluster_id: str, answer: Any) -> None:
    quorum = answer.topics[0].partitions[0]
    voters = list(quorum.current_voters)
    leader = next(v for v in voters if v.replica_id == quorum.leader_id)
    laggard = min(voters, key=lambda v: v.log_end_offset)
    if laggard is leader:
        lag_time = 0
    elif leader.last_caught_up_timestamp >= 0 and laggard.last_caught_up_timestamp >= 0:
        lag_time = leader.last_caught_up_timestamp - laggard.last_caught_up_timestamp
    else:
        lag_time = -1
    endpoints = {
        node.node_id: [f"{lis.name}://{lis.host}:{lis.port}" for lis in node.listeners]
        for node in answer.nodes
    }
    lines = [
        ("ClusterId", cluster_id),
        ("LeaderId", quorum.leader_id),
        ("LeaderEpoch", quorum.leader_epoch),
        ("HighWatermark", quorum.high_watermark),
        ("MaxFollowerLag", leader.log_end_offset - laggard.log_end_offset),
        ("MaxFollowerLagTimeMs", lag_time),
        ("CurrentVoters", _replicas(voters, endpoints)),
        ("CurrentObservers", _replicas(list(quorum.observers), endpoints)),
    ]
    for name, value in lines:
        print(f"{name + ':':<24}{value}")


def _replicas(replicas: list[Any], endpoints: dict[int, list[str]]) -> str:
    """Kafka's ``[{"id": 0, "endpoints": ["CONTROLLER://host:port"]}, ...]``."""
    shown = []
    for replica in replicas:
        text = f'{{"id": {replica.replica_id}'
        if endpoints.get(replica.replica_id):
            text += (
                ', "endpoints": ['
                + ", ".join(f'"{e}"' for e in endpoints[replica.replica_id])
                + "]"
            )
        shown.append(text + "}")
    return "[" + ", ".join(shown) + "]"


def _print_replication(answer: Any, human_readable: bool) -> None:
    quorum = answer.topics[0].partitions[0]
    leader = next(v for v in quorum.current_voters if v.replica_id == quorum.leader_id)
    now = time.time_ns() // 1_000_000

    def when(timestamp: int) -> str:
        if timestamp < 0:
            return "-1"
        return f"{max(0, now - timestamp)} ms ago" if human_readable else str(timestamp)

    def rows(replicas: Any, status: str) -> list[list[Any]]:
        return [
            [
                r.replica_id,
                ZERO_UUID if r.replica_directory_id is None else r.replica_directory_id,
                r.log_end_offset,
                leader.log_end_offset - r.log_end_offset,
                when(r.last_fetch_timestamp),
                when(r.last_caught_up_timestamp),
                status,
            ]
            for r in replicas
        ]

    followers = [v for v in quorum.current_voters if v is not leader]
    print_table(
        [
            "NodeId",
            "DirectoryId",
            "LogEndOffset",
            "Lag",
            "LastFetchTimestamp",
            "LastCaughtUpTimestamp",
            "Status",
        ],
        rows([leader], "Leader") + rows(followers, "Follower") + rows(quorum.observers, "Observer"),
    )
