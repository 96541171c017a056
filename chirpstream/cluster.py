"""``chirpstream cluster``: a local cluster of bundled brokers in the foreground, Kafka 4 style.

Node k listens for clients on ``base-port + k`` and, when it is a controller (a voter of the
metadata quorum), for the quorum on ``base-port + 100 + k``; it keeps everything in
``<data-dir>/node-<k>/``: the ``server.properties`` this verb writes at every start (Kafka's
own setting names, so the file also explains the layout), the log directory ``data/`` and the
node's output ``node.log``. From three nodes up, nodes 0-2 are the voters (``--controllers
3``, the default: the metadata survives losing any one node); ``--controllers 1`` makes node 0
the only voter, the single controller in the role ZooKeeper used to play.

Every node starts at once as ``python -m broker node-<k>/server.properties`` in its own
session; once every node has printed its ``READY`` line this prints one line per node and
``READY bootstrap=...``. Ctrl-C or SIGTERM is a controlled shutdown: the brokers that are not
voters stop first, all together, then the voters one at a time, so a controller is there to
move the leaderships of each broker that leaves; a second Ctrl-C kills what is left. A node
that dies unexpectedly is reported in one line; the rest keep serving.

While it runs, ``<data-dir>/run.json`` (``chirpstream.run_file``) names this process and each
node's pid, command line, addresses, roles and log, rewritten whenever a node starts, stops or
restarts and removed at a clean shutdown: ``chirpstream brokers --kill|--stop|--pause|--resume
ID`` and the dashboard signal the nodes it names, and ``--restart ID`` leaves a request in
``<data-dir>/requests/`` that this process serves, so every node is always its child. A node
gets SIGKILL if this process dies without stopping it (even by SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kio.schema.metadata.v12.request import MetadataRequest

from broker.config import (
    BrokerConfig,
    ConfigError,
    derived_cluster_id,
    parse_assignment,
    read_properties,
)
from broker.net.client import ClientError, KafkaClient
from chirpstream import run_file
from chirpstream.arguments import positive_int
from chirpstream.run_file import NodeRecord, Process, RunRecord
from chirpstream.services import (
    STOP_TIMEOUT_S,
    Service,
    SettingError,
    check_port_free,
    dies_with_parent,
    lock_data_dir,
)

HOST = "127.0.0.1"
CONTROLLER_OFFSET = 100  # node k's controller listener is on base-port + 100 + k
MAX_BROKERS = CONTROLLER_OFFSET  # beyond it, client ports would run into controller ports
CONTROLLER_CHOICES = (1, 3)
READY_TIMEOUT_S = 60.0
POLL_S = 0.1
NO_TOPICS = MetadataRequest(
    topics=(), allow_auto_topic_creation=False, include_topic_authorized_operations=False
)
# Set by this verb for each node; --broker-config may not change them.
LAYOUT_KEYS = (
    "process.roles",
    "node.id",
    "controller.quorum.voters",
    "listeners",
    "advertised.listeners",
    "controller.listener.names",
    "log.dirs",
    "log.dir",
)


@dataclass(frozen=True)
class NodeLayout:
    """Where one node listens and keeps its files. ``chirpstream cluster`` makes every node a
    broker and the voters controllers too; a test harness may add controller-only nodes."""

    node_id: int
    client_port: int | None  # None: no broker role, no client listener
    controller_port: int | None  # None: not a voter, no controller listener
    folder: Path

    @property
    def broker(self) -> bool:
        return self.client_port is not None

    @property
    def voter(self) -> bool:
        return self.controller_port is not None

    @property
    def roles(self) -> str:
        return ",".join(
            role for role, has in (("broker", self.broker), ("controller", self.voter)) if has
        )

    @property
    def client_address(self) -> str | None:
        return None if self.client_port is None else f"{HOST}:{self.client_port}"

    @property
    def controller_address(self) -> str | None:
        return None if self.controller_port is None else f"{HOST}:{self.controller_port}"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def properties_path(self) -> Path:
        return self.folder / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.folder / "node.log"


def plan(brokers: int, controllers: int, base_port: int, data_dir: Path) -> list[NodeLayout]:
    """The nodes of ``chirpstream cluster --brokers N --controllers C --base-port P``."""
    return [
        NodeLayout(
            node_id=k,
            client_port=base_port + k,
            controller_port=base_port + CONTROLLER_OFFSET + k if k < controllers else None,
            folder=data_dir / f"node-{k}",
        )
        for k in range(brokers)
    ]


def voters_setting(nodes: Sequence[NodeLayout]) -> str:
    """``controller.quorum.voters``: ``id@host:port`` of every voter."""
    return ",".join(f"{n.node_id}@{n.controller_address}" for n in nodes if n.voter)


def replication_factor(nodes: Sequence[NodeLayout]) -> int:
    """3 (Kafka's default for internal topics), as far as the cluster has brokers."""
    return min(3, sum(node.broker for node in nodes))


def node_properties(
    node: NodeLayout, nodes: Sequence[NodeLayout], settings: Mapping[str, str]
) -> dict[str, str]:
    """The ``server.properties`` of ``node`` in a cluster of ``nodes``, then ``settings``."""
    listeners = [
        f"{name}://{address}"
        for name, address in (
            ("PLAINTEXT", node.client_address),
            ("CONTROLLER", node.controller_address),
        )
        if address is not None
    ]
    props = {
        "process.roles": node.roles,
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters_setting(nodes),
        # One id for the whole cluster, as `kafka-storage format --cluster-id` gives every
        # node; derived from the quorum, which a data directory keeps, so it stays the same.
        "cluster.id": derived_cluster_id(voters_setting(nodes)),
        "listeners": ",".join(listeners),
        "advertised.listeners": f"PLAINTEXT://{node.client_address}",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(node.data_dir.resolve()),
    }
    if not node.broker:  # a controller alone has no client listener to advertise
        del props["advertised.listeners"]
    factor = str(replication_factor(nodes))
    props["offsets.topic.replication.factor"] = factor
    props["default.replication.factor"] = factor
    return {**props, **settings}


def write_properties(
    node: NodeLayout, nodes: Sequence[NodeLayout], props: Mapping[str, str]
) -> None:
    node.folder.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Node {node.node_id} of a {len(nodes)}-node cluster, written by `chirpstream cluster` "
        "at every start:\n# change its flags (--broker-config KEY=VALUE), not this file.\n"
        "# default.replication.factor is raised from Kafka's 1 to the cluster's size (up to 3)\n"
        "# so that a topic created without one is replicated.\n"
    )
    body = "".join(f"{key}={value}\n" for key, value in props.items())
    node.properties_path.write_text(header + body)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="chirpstream cluster")
    parser.add_argument(
        "--brokers", type=positive_int, default=3, help="how many nodes (default 3)"
    )
    parser.add_argument(
        "--controllers",
        type=int,
        choices=CONTROLLER_CHOICES,
        default=None,
        help="voters of the metadata quorum: 3 (nodes 0-2, the default from 3 brokers up) or 1 "
        "(node 0 alone: the single controller, as ZooKeeper was)",
    )
    parser.add_argument(
        "--base-port",
        type=positive_int,
        default=9092,
        help="node k serves clients on BASE+k and its controller on BASE+100+k (default 9092)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/cluster"),
        help="one node-<k> folder per node (default data/cluster)",
    )
    parser.add_argument(
        "--broker-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Kafka setting for every node, e.g. min.insync.replicas=2 (repeatable)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    return parser


def default_controllers(brokers: int) -> int:
    """A quorum of three voters once there are three nodes (any one may die), else one."""
    return 3 if brokers >= 3 else 1


def check_flags(args: argparse.Namespace) -> tuple[list[NodeLayout], dict[str, str]]:
    """The nodes and the extra settings, or SettingError naming the flag to fix. Touches
    nothing."""
    if args.brokers > MAX_BROKERS:
        raise SettingError(
            f"--brokers {args.brokers}: at most {MAX_BROKERS} (node k's controller port is "
            f"base-port + {CONTROLLER_OFFSET} + k)"
        )
    if args.controllers is None:
        args.controllers = default_controllers(args.brokers)
    if args.controllers > args.brokers:
        raise SettingError(
            f"--controllers {args.controllers} needs at least {args.controllers} brokers: "
            f"pass --brokers {args.controllers} or more, or --controllers 1"
        )
    top = args.base_port + CONTROLLER_OFFSET + args.controllers - 1
    if max(top, args.base_port + args.brokers - 1) > 65535:
        raise SettingError(
            f"--base-port {args.base_port}: the cluster's ports would pass 65535; "
            f"pass --base-port {65535 - CONTROLLER_OFFSET - args.brokers + 1} or lower"
        )
    settings: dict[str, str] = {}
    for item in args.broker_config:
        try:
            key, value = parse_assignment(item)
            BrokerConfig.from_properties({key: value})
        except ConfigError as exc:
            raise SettingError(f"--broker-config: {exc}") from None
        if key in LAYOUT_KEYS:
            raise SettingError(
                f"--broker-config {key}: chirpstream cluster sets it for each node; "
                "choose the layout with --brokers, --controllers, --base-port and --data-dir"
            )
        settings[key] = value
    return plan(args.brokers, args.controllers, args.base_port, args.data_dir), settings


def check_room(nodes: Sequence[NodeLayout]) -> None:
    """SettingError unless the data directory holds this quorum (or none) and every port of
    the cluster is free."""
    _check_same_quorum(nodes)
    for node in nodes:
        check_port_free(node.client_port, "--base-port", "cluster")
        if node.controller_port is not None:
            check_port_free(node.controller_port, "--base-port", "cluster")


def _check_same_quorum(nodes: Sequence[NodeLayout]) -> None:
    """A data directory keeps the quorum it was made with: its metadata log names the voters."""
    wanted = voters_setting(nodes)
    for node in nodes:
        if not node.properties_path.exists():
            continue
        before = read_properties(node.properties_path).get("controller.quorum.voters")
        if before is not None and before != wanted:
            raise SettingError(
                f"{node.folder.parent}/ holds a cluster whose controllers were {before}, not "
                f"{wanted}: pass the --controllers and --base-port it was started with, or "
                "another --data-dir"
            )


class Cluster:
    """The node processes of one ``chirpstream cluster`` run, and its run file."""

    def __init__(
        self,
        nodes: Sequence[NodeLayout],
        settings: Mapping[str, str],
        log_level: str,
        data_dir: Path,
    ):
        self.nodes = list(nodes)
        self.settings = dict(settings)
        self.log_level = log_level
        self.data_dir = data_dir
        self.services: dict[int, Service] = {}
        self.ready: set[int] = set()  # nodes whose current process has printed READY
        self.stopping = False
        self.hurry = False  # a second Ctrl-C: kill instead of waiting
        self.reported: set[int] = set()
        self.supervisor = run_file.own_process()

    @property
    def bootstrap(self) -> str:
        return ",".join(node.client_address for node in self.nodes if node.client_address)

    @property
    def run_path(self) -> Path:
        return self.data_dir / run_file.RUN_FILE

    @property
    def requests(self) -> Path:
        return self.data_dir / run_file.REQUESTS

    def command(self, node: NodeLayout) -> list[str]:
        return [sys.executable, "-m", "broker", str(node.properties_path),
                "--log-level", self.log_level]  # fmt: skip

    def start(self) -> None:
        for stale in self.requests.glob("restart-*"):  # asked of an earlier run
            stale.unlink()
        for node in self.nodes:
            write_properties(node, self.nodes, node_properties(node, self.nodes, self.settings))
            self._launch(node)
        self.write_run_file()

    def _launch(self, node: NodeLayout) -> None:
        with node.log_path.open("a") as out:
            start = out.tell()
            process = subprocess.Popen(
                self.command(node),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches this verb, which stops them in order
                preexec_fn=dies_with_parent(signal.SIGKILL),
            )
        ready = re.compile(rf"^READY (?:broker )?node={node.node_id}\b")
        self.services[node.node_id] = Service(
            f"node {node.node_id}", process, node.log_path, start, ready
        )
        self.ready.discard(node.node_id)
        self.reported.discard(node.node_id)

    def write_run_file(self) -> None:
        """``<data-dir>/run.json`` as things stand now."""
        records = []
        for node in self.nodes:
            service = self.services.get(node.node_id)
            running = service is not None and service.process.poll() is None
            records.append(
                NodeRecord(
                    node_id=node.node_id,
                    roles=node.roles,
                    client_address=node.client_address,
                    controller_address=node.controller_address,
                    log=str(node.log_path.resolve()),
                    argv=self.command(node),
                    process=Process(service.process.pid, self.command(node))
                    if service is not None and running
                    else None,
                    ready=running and node.node_id in self.ready,
                    exit_code=None if service is None else service.process.returncode,
                )
            )
        record = RunRecord(str(self.data_dir.resolve()), self.bootstrap, self.supervisor, records)
        run_file.write(self.run_path, record)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = dict(self.services)
        while waiting:
            for node_id, service in list(waiting.items()):
                if service.ready_line() is not None:
                    del waiting[node_id]
                    self.ready.add(node_id)
                elif service.process.poll() is not None:
                    raise RuntimeError(
                        f"{service.name} exited with {service.process.returncode} before it was "
                        f"ready{service.last_error()}; its log is {service.log}"
                    )
            if waiting and time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting.values())
                raise RuntimeError(
                    f"{names} not ready within {READY_TIMEOUT_S:.0f} s; see node.log in "
                    f"{self.nodes[0].folder.parent}/node-*/"
                )
            if self.stopping:
                raise KeyboardInterrupt
            time.sleep(POLL_S)
        self._wait_every_broker_seen(deadline)
        self.write_run_file()

    def _wait_every_broker_seen(self, deadline: float) -> None:
        """Until every broker's Metadata lists every broker (each one unfenced, as every
        other has heard): a client whose first answer names no controller (-1) would wait
        for its next metadata refresh before it could create a topic."""
        brokers = {node.node_id: node.client_address for node in self.nodes if node.broker}
        while any(asyncio.run(_listed(address)) != set(brokers) for address in brokers.values()):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the brokers did not all see each other within {READY_TIMEOUT_S:.0f} s;"
                    f" see node.log in {self.nodes[0].folder.parent}/node-*/"
                )
            if self.stopping:
                raise KeyboardInterrupt
            time.sleep(POLL_S)

    def describe(self) -> list[str]:
        lines = []
        for node in self.nodes:
            controller = node.controller_address or "-"
            pid = self.services[node.node_id].process.pid
            lines.append(
                f"  node {node.node_id}  roles={node.roles:<17}  clients={node.client_address}  "
                f"controller={controller:<15}  data={node.folder}  pid={pid}"
            )
        return lines

    def watch(self) -> int:
        """Until Ctrl-C: report each node that dies or becomes ready again, and restart the
        nodes asked for. Always 0: with every node stopped, a restart can still start one."""
        while not self.stopping:
            changed = self._serve_requests()
            for node_id, service in self.services.items():
                code = service.process.poll()
                if code is not None and node_id not in self.reported:
                    self.reported.add(node_id)
                    changed = True
                    print(
                        f"chirpstream cluster: {service.name} {_ended(code)}; its log is "
                        f"{service.log}",
                        flush=True,
                    )
                    if len(self.reported) == len(self.services):
                        print(
                            "chirpstream cluster: every node has stopped; `chirpstream brokers "
                            f"--restart ID --data-dir {self.data_dir}` starts one again",
                            flush=True,
                        )
                elif code is None and node_id not in self.ready and service.ready_line():
                    self.ready.add(node_id)
                    changed = True
                    print(f"chirpstream cluster: {service.name} is ready", flush=True)
            if changed:
                self.write_run_file()
            time.sleep(POLL_S)
        return 0

    def _serve_requests(self) -> bool:
        """Restart each node a request file names; True when one was."""
        served = False
        for request in sorted(self.requests.glob("restart-*")):
            with contextlib.suppress(OSError):
                request.unlink()
            node = next((n for n in self.nodes if f"restart-{n.node_id}" == request.name), None)
            if node is None:
                continue
            service = self.services[node.node_id]
            if service.process.poll() is None:
                print(f"chirpstream cluster: restarting {service.name}", flush=True)
                service.terminate()
                self._wait(service)
            self._launch(node)
            pid = self.services[node.node_id].process.pid
            print(f"chirpstream cluster: started node {node.node_id} again, pid {pid}", flush=True)
            served = True
        return served

    def down(self) -> None:
        """Controlled shutdown: brokers that are not voters together, then the voters one
        at a time, highest id first, so a controller outlives every broker it must serve.
        The run file goes last: until then the nodes it names may still be running."""
        brokers = [self.services[n.node_id] for n in self.nodes if not n.voter]
        voters = [self.services[n.node_id] for n in reversed(self.nodes) if n.voter]
        for group in [brokers, *([voter] for voter in voters)]:
            running = [s for s in group if s.process.poll() is None]
            for service in running:
                print(f"  stopping {service.name}", flush=True)
                service.terminate()
            for service in running:
                self._wait(service)
        with contextlib.suppress(FileNotFoundError):
            self.run_path.unlink()
        print("chirpstream cluster stopped", flush=True)

    def _wait(self, service: Service) -> None:
        """Until it exits; SIGKILL on a second Ctrl-C or after ``STOP_TIMEOUT_S``."""
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while service.process.poll() is None and not self.hurry:
            if time.monotonic() > deadline:
                print(f"chirpstream: {service.name} did not stop in time; killing it", flush=True)
                break
            time.sleep(POLL_S)
        if service.process.poll() is None:
            service.process.kill()
        service.wait_stopped()  # and whatever of its session is left

    def interrupt(self, *_: object) -> None:
        if self.stopping:
            self.hurry = True
        self.stopping = True


def _ended(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return "exited cleanly" if code == 0 else f"exited with {code}"


async def _listed(address: str | None) -> set[int]:
    """The brokers the Metadata of the broker at ``address`` lists (none if it does not
    answer)."""
    host, _, port = (address or "").rpartition(":")
    client = KafkaClient(host, int(port), client_id="chirpstream-cluster")
    try:
        answer = await client.request(NO_TOPICS, timeout_s=POLL_S * 10)
    except (ClientError, OSError, TimeoutError):
        return set()
    finally:
        await client.close()
    return {int(broker.node_id) for broker in answer.brokers}


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    args = args or build_parser().parse_args(argv)
    try:
        nodes, settings = check_flags(args)
        lock_data_dir(args.data_dir, "cluster", "a second cluster")
        check_room(nodes)
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cluster = Cluster(nodes, settings, args.log_level, args.data_dir)
    signal.signal(signal.SIGTERM, cluster.interrupt)
    signal.signal(signal.SIGINT, cluster.interrupt)
    voters = sum(node.voter for node in nodes)
    print(
        f"starting a cluster of {len(nodes)} nodes, {voters} of them controllers, in "
        f"{args.data_dir}/",
        flush=True,
    )
    code = 0
    try:
        cluster.start()
        cluster.wait_ready()
        print("\n".join(cluster.describe()), flush=True)
        print(f"READY bootstrap={cluster.bootstrap}", flush=True)
        code = cluster.watch()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        cluster.down()
    return code
