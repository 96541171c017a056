"""``chirpstream up``: the whole pipeline on one machine, started in order, stopped in reverse.

Starts a bundled 3-node cluster (``chirpstream cluster --brokers 3``, every node a controller
too; ``--brokers 1`` starts one bundled broker instead; ``--bootstrap-servers`` names a cluster
to use instead), the topics, ingest, the analytics workers and the dashboard, each as its own
process in its own session; waits for each one's ``READY`` line; prints one summary and then a
compact status line (``chirpstream.status``: read without librdkafka, whose crashes during
broker restarts would take ``up`` down with them). On the bundled cluster ``tweets`` is
replicated 3 times with ``min.insync.replicas=2`` (ingest produces with acks=all), so any one
node can die and the pipeline carries on; every service is given every node's address. Ctrl-C or
SIGTERM stops the services newest first (ingest flushes its producer, the workers publish and
commit), and whatever a service started is killed with it, so nothing is left running; should
``up`` itself die (even by SIGKILL), its guardian (``chirpstream.guardian``) stops them in the
same order. Each service appends to ``<data-dir>/logs/<service>.log``. The bundled cluster's run
file, ``<data-dir>/cluster/run.json``, is what ``chirpstream brokers --kill ID`` and the
dashboard's broker controls act on. Each analytics worker is ``up``'s own child, recorded in
``<data-dir>/workers.json``: ``chirpstream workers --add`` and ``--remove`` (and the dashboard's
Rebalances page) add one to the group or take one out while ``up`` runs
(``chirpstream.workers``).

Every flag is checked before anything starts (ingest's by ingest's own parser), and a data
directory is used by one ``up`` at a time: a second one is refused before it touches anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import broker.main
import chirpstream.cluster
import ingest.main
from chirpstream import guardian, run_file
from chirpstream.arguments import port, positive_int
from chirpstream.client_config import (
    ConfigError,
    add_client_arguments,
    forwarded,
    service_config,
)
from chirpstream.kafka import Unreachable, ensure_topic
from chirpstream.run_file import own_process
from chirpstream.services import (
    STOP_TIMEOUT_S,
    Service,
    SettingError,
    check_port_free,
    lock_data_dir,
)
from chirpstream.settings import (
    ANALYTICS_GROUP,
    DLQ_TOPIC,
    STATS_TOPIC,
    TWEETS_PARTITIONS,
    TWEETS_TOPIC,
    WORKER_SESSION_TIMEOUT_MS,
)
from chirpstream.status import status_line
from chirpstream.workers import WorkerGroup
from ingest.x_common import MissingCredential

READY_TIMEOUT_S = 60.0
STATUS_INTERVAL_S = 2.0
TOPICS = ((TWEETS_TOPIC, TWEETS_PARTITIONS), (STATS_TOPIC, 1), (DLQ_TOPIC, 1))
MAX_REPLICATION = 3  # Kafka's usual replication factor, as far as the cluster has brokers
LOWEST_FREE_PORT = 20000  # --broker-port 0 picks a base from here up
CLUSTER_READY = re.compile(r"^READY bootstrap=(\S+)")
LISTENING = re.compile(r"listening=(\S+)")
# Kafka checks retention every 5 minutes; a class watching the log start move cannot wait that
# long, so the broker `up` starts checks every second unless --broker-config says otherwise.
LESSON_RETENTION_CHECK_MS = 1000
RETENTION_CHECK = "log.retention.check.interval.ms"


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="chirpstream up")
    add_client_arguments(
        parser, bootstrap_help="a Kafka cluster to use instead of the bundled broker"
    )
    parser.add_argument(
        "--brokers",
        type=positive_int,
        default=3,
        help="bundled nodes: 3 by default (a cluster, every node a controller too); 1 starts "
        "one broker",
    )
    parser.add_argument(
        "--broker-port",
        type=port,
        default=9092,
        help="the bundled broker's port; on a cluster node k serves clients on PORT+k and its "
        "controller on PORT+100+k (0: any free)",
    )
    parser.add_argument(
        "--broker-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the bundled broker, e.g. num.partitions=3 (up checks retention "
        f"every {LESSON_RETENTION_CHECK_MS} ms unless log.retention.check.interval.ms is given)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="broker log directory, dashboard store and service logs (default data/)",
    )
    # Ingest's flags, passed on as given; ingest's own parser checks them before anything starts.
    parser.add_argument(
        "--source", choices=["simulate", "replay", "x-stream", "x-poll"], default="simulate"
    )
    parser.add_argument("--rate", default="50", help="simulated tweets per second, or max")
    parser.add_argument("--seed", help="make the simulated stream repeatable")
    parser.add_argument("--key", help="message key: author (default), hashtag or none")
    parser.add_argument("--limit", help="stop ingest after this many tweets")
    parser.add_argument("--file", help="replay: the JSONL file (default: the shipped sample)")
    parser.add_argument("--speed", help="replay: 1 = recorded speed, 10 = ten times faster, max")
    parser.add_argument("--loop", action="store_true", help="replay: start again at the end")
    parser.add_argument("--rule", action="append", default=[], help="x-stream: a filter rule")
    parser.add_argument("--query", help="x-poll: the recent-search query")
    parser.add_argument("--max-reads", help="x-stream and x-poll: stop after this many posts")
    parser.add_argument(
        "--workers", type=positive_int, default=3, help="analytics workers (default 3)"
    )
    parser.add_argument("--no-dashboard", action="store_true", help="run headless")
    parser.add_argument("--dashboard-port", type=port, default=8501)
    return parser


def check_settings(args: argparse.Namespace, ingest_arguments: list[str]) -> None:
    """Refuse what would make a service fail once started: every flag, and the ports."""
    checker = argparse.ArgumentParser(prog="chirpstream up", add_help=False, exit_on_error=False)
    ingest.main.build_parser(checker)
    try:
        ingest_args = checker.parse_args(ingest_arguments)
        ingest.main.make_source(ingest_args).close()
    except argparse.ArgumentError as exc:
        raise SettingError(f"chirpstream up: {exc} (see chirpstream up --help)") from None
    except (ValueError, OSError, MissingCredential) as exc:
        raise SettingError(str(exc)) from None
    if not args.bootstrap_servers and args.brokers == 1:
        broker_args = broker.main.build_parser().parse_args(broker_arguments(args))
        try:
            broker.main.config_from_args(broker_args)
        except broker.main.ConfigError as exc:
            raise SettingError(f"--broker-config: {exc}") from None
        if args.broker_port:
            check_port_free(args.broker_port, "--broker-port", "up", " (0 picks a free one)")
    elif not args.bootstrap_servers:
        cluster_args = chirpstream.cluster.build_parser().parse_args(cluster_arguments(args))
        nodes, _ = chirpstream.cluster.check_flags(cluster_args)
        if args.broker_port:
            for node in nodes:
                for number in (node.client_port, node.controller_port):
                    if number is not None:
                        check_port_free(number, "--broker-port", "up", " (0 picks a free one)")
    if not args.no_dashboard and args.dashboard_port:
        check_port_free(args.dashboard_port, "--dashboard-port", "up")


def broker_arguments(args: argparse.Namespace) -> list[str]:
    """The bundled broker's command line: its port, its data and its settings."""
    return [
        "--port",
        str(args.broker_port),
        "--data-dir",
        str(args.data_dir / "broker"),
        *(flag for setting in broker_settings(args) for flag in ("--config", setting)),
    ]


def broker_settings(args: argparse.Namespace) -> list[str]:
    """``--broker-config``, with retention checked every ``LESSON_RETENTION_CHECK_MS`` unless
    it sets the interval."""
    settings = list(args.broker_config)
    if not any(s.partition("=")[0].strip() == RETENTION_CHECK for s in settings):
        settings.insert(0, f"{RETENTION_CHECK}={LESSON_RETENTION_CHECK_MS}")
    return settings


def controllers(brokers: int) -> int:
    """Voters of the bundled cluster's quorum: all three nodes when there are three, so that
    killing any one of them leaves a controller to move its leaderships."""
    return 3 if brokers >= 3 else 1


def cluster_arguments(args: argparse.Namespace) -> list[str]:
    """``chirpstream cluster``'s command line for ``up --brokers N`` (N > 1), in
    ``<data-dir>/cluster``, with the same retention check as the single broker's."""
    return [
        "--brokers",
        str(args.brokers),
        "--controllers",
        str(controllers(args.brokers)),
        "--base-port",
        str(args.broker_port),
        "--data-dir",
        str(args.data_dir / "cluster"),
        *(flag for setting in broker_settings(args) for flag in ("--broker-config", setting)),
    ]


def free_base_port(brokers: int, voters: int) -> int:
    """A base port whose client and controller ports (``chirpstream cluster``'s layout) were
    all free a moment ago, for ``--broker-port 0``. Below the kernel's ephemeral range: a node
    restarted on its ports must not find one taken as the source port of some connection."""
    offset = chirpstream.cluster.CONTROLLER_OFFSET
    low, high = LOWEST_FREE_PORT, ephemeral_ports_start() - offset - max(brokers, voters)
    for _ in range(200):
        base = random.randrange(low, max(high, low + 1))
        wanted = [*range(base, base + brokers), *range(base + offset, base + offset + voters)]
        try:
            for number in wanted:
                check_port_free(number, "--broker-port", "up")
        except SettingError:
            continue
        return base
    raise SettingError("--broker-port 0: found no free range of ports; pass --broker-port PORT")


def ephemeral_ports_start() -> int:
    """The first port the kernel hands out as a source port (Linux: 32768 unless changed)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def topic_settings(brokers: int) -> tuple[int, dict[str, str]]:
    """The replication factor and settings of the pipeline's topics on a bundled cluster of
    ``brokers``: 3 replicas (as far as there are brokers) and, when replicated, acks=all
    acknowledged by all but one of them (``min.insync.replicas=2`` with 3 replicas)."""
    replicas = min(MAX_REPLICATION, brokers)
    if replicas == 1:
        return 1, {}
    return replicas, {"min.insync.replicas": str(replicas - 1)}


class Pipeline:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.logs = args.data_dir / "logs"
        self.services: list[Service | WorkerGroup] = []
        self.workers: WorkerGroup | None = None
        self.bootstrap, self.client_config = service_config(args)
        self.stopping = False
        self.reported: set[str] = set()
        self.guardian: subprocess.Popen[str] | None = None

    def spawn(
        self,
        name: str,
        module: str,
        *module_args: str,
        ready: re.Pattern[str] | None = None,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        log_name: str | None = None,
    ) -> Service:
        """Start ``python -m module`` in its own session, its output appended to
        ``<logs>/<log_name or name>.log``, and tell the guardian."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{log_name or name}.log"
        argv = [sys.executable, "-m", module, *module_args]
        with log.open("a") as out:
            start = out.tell()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches `up` alone, which stops them in order
            )
        service = Service(
            name, process, log, start, ready or re.compile(rf"READY {name}\b"), stop_timeout_s
        )
        entry = {"name": name, "pid": process.pid, "argv": argv, "stop_timeout_s": stop_timeout_s}
        self._tell_guardian(json.dumps(entry))
        return service

    def start(
        self,
        name: str,
        module: str,
        *module_args: str,
        ready: re.Pattern[str] | None = None,
        stop_timeout_s: float = STOP_TIMEOUT_S,
    ) -> Service:
        """Start ``python -m module`` in its own session and wait for its READY line
        (``READY <name>`` unless ``ready`` says otherwise)."""
        service = self.spawn(name, module, *module_args, ready=ready, stop_timeout_s=stop_timeout_s)
        self.services.append(service)
        process, log = service.process, service.log
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (line := service.ready_line()) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start{service.last_error()}; its log is {log}")
            if self.stopping:
                raise KeyboardInterrupt
            time.sleep(0.1)
        print(f"  {name:<10} pid {process.pid:<8} {line.removeprefix(name).strip()}", flush=True)
        return service

    def start_workers(self, client: list[str]) -> None:
        """The analytics workers, each ``up``'s own child (``chirpstream.workers``), all
        writing to ``analytics.log``; more are started on request while ``up`` runs. Their
        session timeout is 10 s (a ``-X session.timeout.ms`` given to ``up`` overrides it)."""

        def spawn(index: int) -> Service:
            return self.spawn(
                f"worker {index}", "consumers.worker", "--id", str(index),
                "-X", f"session.timeout.ms={WORKER_SESSION_TIMEOUT_MS}", *client,
                "--group", ANALYTICS_GROUP, log_name="analytics",
            )  # fmt: skip

        self.workers = WorkerGroup(self.args.data_dir, ANALYTICS_GROUP, spawn, own_process())
        self.services.append(self.workers)
        for _ in range(self.args.workers):
            self.workers.add()
        pids = " ".join(str(s.process.pid) for s in self.workers.running.values())
        print(
            f"  {'analytics':<10} pids {pids} workers={self.args.workers} "
            f"group={ANALYTICS_GROUP} topic={TWEETS_TOPIC}",
            flush=True,
        )

    def start_guardian(self) -> None:
        """The process that stops the services should ``up`` die without stopping them."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "guardian.log").open("a") as out:
            self.guardian = subprocess.Popen(
                [sys.executable, "-m", "chirpstream.guardian"],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                text=True,
            )

    def _tell_guardian(self, line: str) -> None:
        if self.guardian is None or self.guardian.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError):
            self.guardian.stdin.write(line + "\n")
            self.guardian.stdin.flush()

    def up(self) -> None:
        args = self.args
        print("starting chirpstream", flush=True)
        self.start_guardian()
        replication_factor, topic_config = -1, {}  # an external cluster's own defaults
        if not args.bootstrap_servers and args.brokers == 1:
            broker = self.start("broker", "broker", *broker_arguments(args))
            listening = LISTENING.search(broker.ready_line() or "")
            assert listening is not None, "the broker's READY line names its address"
            self.bootstrap = listening[1]
        elif not args.bootstrap_servers:
            cluster = self.start(
                "cluster",
                "chirpstream",
                "cluster",
                *cluster_arguments(args),
                ready=CLUSTER_READY,
                # Every node has to shut down in turn, each handing over its leaderships.
                stop_timeout_s=STOP_TIMEOUT_S * (args.brokers + 1),
            )
            self.bootstrap = CLUSTER_READY.match(f"READY {cluster.ready_line()}")[1]
            replication_factor, topic_config = topic_settings(args.brokers)
        for topic, partitions in TOPICS:
            ensure_topic(
                self.bootstrap,
                topic,
                partitions,
                self.client_config,
                replication_factor=replication_factor,
                config=topic_config if topic == TWEETS_TOPIC else {},
            )
        client = forwarded(args, bootstrap=self.bootstrap)
        self.start("ingest", "ingest", *client, *self.source_arguments())
        self.start_workers(client)
        if not args.no_dashboard:
            store = str(args.data_dir / "dashboard.sqlite")
            port = str(args.dashboard_port)
            self.start(
                "dashboard", "dashboard", *client, "--port", port, "--store", store,
                "--pipeline-dir", str(args.data_dir), *self.cluster_arguments(),
            )  # fmt: skip
        where = (
            "your cluster"
            if args.bootstrap_servers
            else "the bundled broker"
            if args.brokers == 1
            else f"a bundled {args.brokers}-node cluster"
        )
        dashboard = (
            "" if args.no_dashboard else f" Dashboard: http://127.0.0.1:{args.dashboard_port}"
        )
        print(
            f"chirpstream is up on {where} at {self.bootstrap}: {args.source} tweets into "
            f"'{TWEETS_TOPIC}', {args.workers} analytics workers.{dashboard}\n"
            f"Logs in {self.logs}/. Ctrl-C stops everything.",
            flush=True,
        )

    def cluster_arguments(self) -> list[str]:
        """The dashboard's flags for the bundled cluster: its controllers, for the quorum,
        and its run file, for the broker controls (none elsewhere)."""
        args = self.args
        if args.bootstrap_servers or args.brokers == 1:
            return []
        cluster = chirpstream.cluster.build_parser().parse_args(cluster_arguments(args))
        nodes, _ = chirpstream.cluster.check_flags(cluster)
        return [
            "--bootstrap-controller",
            ",".join(node.controller_address for node in nodes if node.controller_address),
            "--run-file",
            str(args.data_dir / "cluster" / run_file.RUN_FILE),
        ]

    def source_arguments(self) -> list[str]:
        args = self.args
        given = ["--source", args.source, "--rate", args.rate]
        for flag, value in (
            ("--seed", args.seed),
            ("--key", args.key),
            ("--limit", args.limit),
            ("--file", args.file),
            ("--speed", args.speed),
            ("--query", args.query),
            ("--max-reads", args.max_reads),
        ):
            if value is not None:
                given += [flag, value]
        for rule in args.rule:
            given += ["--rule", rule]
        return given + (["--loop"] if args.loop else [])

    def watch(self) -> None:
        """A status line every few seconds; a service that dies is reported once."""
        status = status_line(self.bootstrap, self.client_config)
        live = sys.stdout.isatty()
        try:
            while not self.stopping:
                for service in self.services:
                    if isinstance(service, WorkerGroup):
                        continue
                    code = service.process.poll()
                    if code is not None and service.name not in self.reported:
                        self.reported.add(service.name)
                        ended = "finished" if code == 0 else f"exited with {code}"
                        print(
                            f"\nchirpstream: {service.name} {ended}; its log is {service.log}",
                            flush=True,
                        )
                self.tend_workers()
                line = status.line()
                # On a terminal the line updates in place; in a log it is one line per sample.
                print(f"\r\033[K{line}" if live else line, end="" if live else "\n", flush=True)
                deadline = time.monotonic() + STATUS_INTERVAL_S
                while not self.stopping and time.monotonic() < deadline:
                    time.sleep(0.1)
                    self.tend_workers()
        finally:
            status.close()
            if live:
                print(flush=True)

    def tend_workers(self) -> None:
        """Start the workers asked for (``chirpstream workers --add``); report those that
        exited, a clean leave (``--remove``) as such."""
        if self.workers is None or self.stopping:
            return
        for service in self.workers.serve_requests():
            print(f"\nchirpstream: {service.name} started (pid {service.process.pid})", flush=True)
        for index, service, code in self.workers.reap():
            how = (
                "left the group (a clean stop)"
                if code == 0
                else f"exited with {code}; the others take over its partitions after its "
                "session times out"
            )
            print(f"\nchirpstream: worker {index} {how}; its log is {service.log}", flush=True)

    def down(self) -> None:
        """Stop every service, newest first; then the guardian, with nothing left to do."""
        for service in reversed(self.services):
            print(f"  stopping {service.name}", flush=True)
            service.stop()
        if self.guardian is not None:
            self._tell_guardian(guardian.DONE)
            with contextlib.suppress(BrokenPipeError):
                self.guardian.stdin.close()
            self.guardian.wait(STOP_TIMEOUT_S)
        print("chirpstream stopped", flush=True)


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    args = args or build_parser().parse_args(argv)
    try:
        pipeline = Pipeline(args)
        lock_data_dir(args.data_dir, "up", "a second pipeline")
        if not args.bootstrap_servers and args.brokers > 1 and not args.broker_port:
            args.broker_port = free_base_port(args.brokers, controllers(args.brokers))
        check_settings(args, pipeline.source_arguments())
    except (ConfigError, SettingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    def stop(*_: object) -> None:
        pipeline.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        pipeline.up()
        pipeline.watch()
    except (RuntimeError, Unreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        pipeline.down()
    return 0
