"""``chirpstream brokers``: every broker the cluster knows, as a table; and, on the cluster
``chirpstream up`` or ``chirpstream cluster`` started, ``--stop|--kill|--pause|--resume|
--restart ID`` (``chirpstream.controls``).

ID, ADDRESS, STATE (running; fenced: registered, but the controller fenced it; paused:
accepts connections but does not answer; stopped: refuses connections), PID (the node's
process on the bundled cluster, ``-`` elsewhere), CONTROLLER (``yes`` on the active
controller, the quorum's leader as DescribeQuorum names it from ``--bootstrap-controller`` or
the run file, none when no leader answers; without either, the one Metadata names)
and LEADERS (how many partitions, of every topic, it leads). The dashboard's collector asks
the same questions (``dashboard.cluster_probe``); a broker seen earlier by this command and
gone since is not remembered: each run starts afresh from DescribeCluster, fenced brokers
included. On the bundled cluster the run file (``<data-dir>/run.json``) adds the brokers
that are down and tells a paused or stopped process from the state the wire shows, and it
gives the addresses when ``--bootstrap-servers`` and ``--bootstrap-controller`` are not given.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from chirpstream import controls, run_file
from chirpstream.client_config import add_client_arguments
from chirpstream.settings import DEFAULT_BOOTSTRAP
from chirpstream.tools.common import CliError, print_table, reporting_errors, settings
from dashboard.cluster_probe import ClusterProbe

# How long each action waits for the broker to get there (a controlled shutdown moves every
# leadership first; a restart replays the node's log).
WAIT_S = {"stop": 60.0, "kill": 10.0, "pause": 5.0, "resume": 0.0, "restart": 90.0}


def node_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a broker id (0, 1, 2, ...)")
    return int(text)


def build_parser(parser: argparse.ArgumentParser) -> None:
    add_client_arguments(parser)
    parser.add_argument(
        "--bootstrap-controller",
        default=None,
        metavar="HOST:PORT",
        help="a controller listener, to mark the active controller as the quorum names it "
        "(default: the bundled cluster's; else the controller the brokers' metadata names)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=controls.DEFAULT_DATA_DIR,
        help="where the bundled cluster runs, for its run file (default "
        f"{controls.DEFAULT_DATA_DIR}, as `chirpstream up` and `chirpstream cluster` use)",
    )
    actions = parser.add_mutually_exclusive_group()
    for action, what in (
        ("stop", "SIGTERM: a controlled shutdown"),
        ("kill", "SIGKILL: a crash"),
        ("pause", "SIGSTOP: a hung broker"),
        ("resume", "SIGCONT a paused broker"),
        ("restart", "stop it if it runs, and start it again"),
    ):
        actions.add_argument(
            f"--{action}",
            type=node_id,
            metavar="ID",
            help=f"on the bundled cluster only: {what}",
        )


@reporting_errors
def main(args: argparse.Namespace) -> int:
    for action in controls.ACTIONS:
        chosen = getattr(args, action)
        if chosen is not None:
            try:
                print(controls.act(args.data_dir, action, chosen, WAIT_S[action]), flush=True)
            except controls.ControlError as exc:
                raise CliError(str(exc)) from None
            return 0
    record = run_file.live(args.data_dir / run_file.RUN_FILE)
    config = settings(args)
    given = args.bootstrap_servers or config["bootstrap.servers"] != DEFAULT_BOOTSTRAP
    if record is not None and not given:
        config["bootstrap.servers"] = record.bootstrap
    bootstrap = config["bootstrap.servers"]
    if record is not None and not record.serves(bootstrap):
        record = None  # another cluster than the one asked about
    controller = args.bootstrap_controller or (record and record.controllers) or None
    probe = ClusterProbe(bootstrap, controller)
    try:
        view = probe.view()
    finally:
        probe.close()
    if view is None and record is None:
        raise CliError(f"no broker at {bootstrap} answered: is the cluster running?")
    rows: dict[int, list[object]] = {}
    if view is not None:
        leaders = Counter(p.leader for p in view.partitions)
        for b in view.brokers:
            rows[b.node_id] = [
                b.node_id,
                f"{b.host}:{b.port}",
                b.state,
                "-",
                "yes" if b.controller else "no",
                leaders.get(b.node_id, 0),
            ]
    for node in record.nodes if record is not None else []:
        if node.client_address is None:
            continue  # a controller alone is no broker
        row = rows.setdefault(
            node.node_id, [node.node_id, node.client_address, "stopped", "-", "no", 0]
        )
        state = controls.node_state(node)
        if state != "running":  # the process itself says so; the wire may lag behind
            row[2] = state
        if state == "stopped":
            row[4] = "no"  # a process that is gone controls nothing
        row[3] = node.pid if state != "stopped" else "-"
    print_table(
        ["ID", "ADDRESS", "STATE", "PID", "CONTROLLER", "LEADERS"],
        [rows[i] for i in sorted(rows)],
    )
    return 0
