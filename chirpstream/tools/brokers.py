"""``chirpstream brokers``: every broker the cluster knows, as a table.

ID, ADDRESS, STATE (running; fenced: registered, but the controller fenced it; paused:
accepts connections but does not answer; stopped: refuses connections), CONTROLLER (``yes``
on the active controller, the quorum's leader as DescribeQuorum names it from
``--bootstrap-controller``) and LEADERS (how many partitions, of every topic, it leads). The
dashboard's collector asks the same questions (``dashboard.cluster_probe``); a broker seen
earlier by this command and gone since is not remembered: each run starts afresh from
DescribeCluster, fenced brokers included.
"""

from __future__ import annotations

import argparse
from collections import Counter

from chirpstream.client_config import add_client_arguments
from chirpstream.tools.common import CliError, print_table, reporting_errors, settings
from chirpstream.tools.quorum import DEFAULT_CONTROLLER
from dashboard.cluster_probe import ClusterProbe

TIMEOUT_S = 3.0  # per node asked; a paused broker costs this once


def build_parser(parser: argparse.ArgumentParser) -> None:
    add_client_arguments(parser)
    parser.add_argument(
        "--bootstrap-controller",
        default=DEFAULT_CONTROLLER,
        metavar="HOST:PORT",
        help=f"a controller listener, to mark the active controller (default {DEFAULT_CONTROLLER})",
    )


@reporting_errors
def main(args: argparse.Namespace) -> int:
    bootstrap = settings(args)["bootstrap.servers"]
    probe = ClusterProbe(bootstrap, args.bootstrap_controller, timeout_s=TIMEOUT_S)
    try:
        view = probe.view()
    finally:
        probe.close()
    if view is None:
        raise CliError(f"no broker at {bootstrap} answered: is the cluster running?")
    leaders = Counter(p.leader for p in view.partitions)
    print_table(
        ["ID", "ADDRESS", "STATE", "CONTROLLER", "LEADERS"],
        [
            [
                b.node_id,
                f"{b.host}:{b.port}",
                b.state,
                "yes" if b.controller else "no",
                leaders.get(b.node_id, 0),
            ]
            for b in view.brokers
        ],
    )
    return 0
