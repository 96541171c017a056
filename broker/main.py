"""``python -m broker`` / ``chirpstream broker``: run the bundled broker until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from broker.config import (
    BrokerConfig,
    ConfigError,
    check_port,
    parse_assignment,
    read_properties,
)
from broker.node import Node
from broker.storage.errors import StorageError
from chirpstream.logs import LEVELS, setup_logging

if TYPE_CHECKING:
    from broker.cluster_node import ClusterNode

log = logging.getLogger("broker")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="python -m broker", description="Run chirpstream's bundled Kafka-compatible broker."
    )
    parser.add_argument(
        "properties", nargs="?", type=Path, help="a server.properties file (Kafka's setting names)"
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 9092; 0 = any)")
    parser.add_argument("--data-dir", type=Path, help="log directory (default data/broker)")
    parser.add_argument("--node-id", type=int, help="this broker's id (default 0)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Kafka setting, e.g. num.partitions=3 (repeatable)",
    )
    parser.add_argument("--log-level", default="INFO", choices=LEVELS)
    return parser


def config_from_args(args: argparse.Namespace) -> BrokerConfig:
    props = read_properties(args.properties) if args.properties else {}
    props.update(parse_assignment(item) for item in args.config)
    if args.host is not None or args.port is not None:
        host = args.host if args.host is not None else "127.0.0.1"
        port = check_port("--port", args.port) if args.port is not None else 9092
        # The flags name the client listener; a CONTROLLER listener set elsewhere stays.
        others = [
            entry.strip()
            for entry in props.get("listeners", "").split(",")
            if entry.strip() and not entry.strip().upper().startswith("PLAINTEXT://")
        ]
        props["listeners"] = ",".join([f"PLAINTEXT://{host}:{port}", *others])
    if args.data_dir is not None:
        props["log.dirs"] = str(args.data_dir)
    if args.node_id is not None:
        props["node.id"] = str(args.node_id)
    return BrokerConfig.from_properties(props)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class NodeFailed(Exception):
    """A part of the node it cannot serve without stopped on a failure; the message says
    which and why."""


def build_node(config: BrokerConfig) -> Node | ClusterNode:
    """A single node, or a node of a cluster when ``controller.quorum.voters`` is set. The
    cluster's modules (Raft, the quorum controller, replica fetchers) are imported only for the
    latter: a single broker starts 0.1 s of CPU sooner without them."""
    if not config.cluster_mode:
        return Node(config)
    from broker.cluster_node import ClusterNode

    return ClusterNode(config)


async def serve(config: BrokerConfig) -> None:
    node = build_node(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # A cluster node may wait long to start (for the quorum, for other brokers): a SIGTERM
    # meanwhile stops it there.
    starting = asyncio.ensure_future(node.start())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        else:
            starting.result()
    except BaseException:
        await node.stop()
        raise
    finally:
        stopping.cancel()
    if stop.is_set():
        log.info("stopping before the node was ready")
        await node.stop()
        return
    if config.is_broker and not _is_loopback(config.host):
        log.warning(
            "listening on %s, not loopback: anyone who can reach this machine can "
            "read and write every topic",
            config.host,
        )
    quorum = config.controller_listener
    if quorum is not None and not _is_loopback(quorum.host):
        log.warning(
            "the controller listens on %s, not loopback: anyone who can reach this machine "
            "can vote in the quorum and register brokers",
            quorum.host,
        )
    if config.cluster_mode:
        print(
            f"READY node={config.node_id} roles={','.join(config.process_roles)} "
            f"listeners={node.listeners()} data_dir={config.data_dir}",
            flush=True,
        )
    else:
        print(
            f"READY broker node={config.node_id} listening={config.advertised}:{node.port} "
            f"data_dir={config.data_dir}",
            flush=True,
        )
    stopping = asyncio.ensure_future(stop.wait())
    failed = asyncio.ensure_future(node.wait_failed()) if config.cluster_mode else None
    waits = [task for task in (stopping, failed) if task is not None]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
    if failed is not None and failed.done() and not failed.cancelled():
        log.info("stopping: the metadata quorum's Raft node failed")
        try:
            await node.stop()
        except Exception:  # the same broken disk, most likely: the failure is the news
            log.exception("stopping after the Raft node's failure failed too")
        raise NodeFailed(f"the metadata quorum's Raft node stopped: {failed.result()}")
    log.info("stopping")
    await node.stop()


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    args = args or build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config))
    except (StorageError, NodeFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if config.cluster_mode:
            listeners = config.describe()["listeners"]
            if exc.errno == errno.EADDRINUSE:
                print(
                    f"error: a port of listeners={listeners} is already in use; stop the "
                    "other process or change listeners",
                    file=sys.stderr,
                )
            else:
                print(f"error: cannot listen on {listeners}: {exc.strerror}", file=sys.stderr)
        elif exc.errno == errno.EADDRINUSE:
            print(
                f"error: port {config.port} on {config.host} is already in use; stop the "
                f"other process or pass --port",
                file=sys.stderr,
            )
        else:
            print(
                f"error: cannot listen on {config.host}:{config.port}: {exc.strerror}",
                file=sys.stderr,
            )
        return 1
    return 0
