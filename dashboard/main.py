"""``chirpstream dashboard`` / ``python -m dashboard``: the collector and Streamlit together.

The collector samples the cluster every second into the SQLite store; Streamlit serves the
pages on 127.0.0.1:8501 and reads that store. SIGTERM or Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from chirpstream import workers
from chirpstream.client_config import ConfigError, add_client_arguments, service_config
from chirpstream.controls import DEFAULT_DATA_DIR
from chirpstream.logs import LEVELS, setup_logging
from chirpstream.run_file import RUN_FILE
from chirpstream.tools.quorum import DEFAULT_CONTROLLER
from dashboard.collector import Collector
from dashboard.store import Store
from dashboard.ui import (
    BOOTSTRAP_ENV,
    CLIENT_CONFIG_ENV,
    DEFAULT_STORE,
    PIPELINE_DIR_ENV,
    RUN_FILE_ENV,
    STORE_ENV,
)

APP = Path(__file__).resolve().parent / "app.py"


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="python -m dashboard", description="Run the dashboard and its collector."
    )
    add_client_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_STORE,
        help="the SQLite file the collector writes and the pages read",
    )
    parser.add_argument(
        "--bootstrap-controller",
        default=DEFAULT_CONTROLLER,
        metavar="HOST:PORT[,...]",
        help="a controller listener to ask for the quorum (DescribeQuorum) on a cluster"
        f" (default {DEFAULT_CONTROLLER}; nothing is shown when none answers)",
    )
    parser.add_argument(
        "--run-file",
        type=Path,
        default=DEFAULT_DATA_DIR / RUN_FILE,
        help="the run file of the bundled cluster, for the Cluster page's broker controls"
        f" (default {DEFAULT_DATA_DIR / RUN_FILE}, where `chirpstream up` keeps it)",
    )
    parser.add_argument(
        "--pipeline-dir",
        type=Path,
        default=workers.DEFAULT_DATA_DIR,
        help="the data directory of the `chirpstream up` whose analytics workers the "
        f"Rebalances page adds and removes (default {workers.DEFAULT_DATA_DIR}/)",
    )
    parser.add_argument("--log-level", default="WARNING", choices=LEVELS)
    return parser


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    bootstrap, config = service_config(args)
    store = Store(args.store)
    collector = Collector(bootstrap, store, config, controllers=args.bootstrap_controller)
    sampler = threading.Thread(target=collector.run, name="collector", daemon=True)
    sampler.start()
    env = {
        **os.environ,
        STORE_ENV: str(args.store.resolve()),
        BOOTSTRAP_ENV: bootstrap,
        CLIENT_CONFIG_ENV: json.dumps(config),
        RUN_FILE_ENV: str(args.run_file.resolve()),
        PIPELINE_DIR_ENV: str(args.pipeline_dir.resolve()),
    }
    streamlit = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.address",
            args.host,
            "--server.port",
            str(args.port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            # A class sees the app, not Streamlit's developer toolbar ("Deploy").
            "--client.toolbarMode",
            "viewer",
        ],
        env=env,
    )
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    url = f"http://{args.host}:{args.port}"
    deadline = time.monotonic() + 60
    while not _healthy(f"{url}/_stcore/health"):
        if streamlit.poll() is not None or time.monotonic() > deadline or stopping.is_set():
            print(f"error: the dashboard did not start on {url}", file=sys.stderr)
            streamlit.terminate()
            collector.stop()
            return 1
        time.sleep(0.2)
    print(f"READY dashboard url={url} bootstrap={bootstrap}", flush=True)
    while not stopping.is_set() and streamlit.poll() is None:
        stopping.wait(0.5)
    collector.stop()
    streamlit.terminate()
    streamlit.wait(30)
    sampler.join(10)
    return 0


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    args = args or build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return run(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
