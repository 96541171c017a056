"""Workload 5: how long the broker takes to serve again with 10M messages on disk, after a
clean stop (SIGTERM) and after SIGKILL, and its peak RSS while loading. Run with
``python -m bench.restart``; ``make bench`` runs it too."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.broker_stats import usage
from bench.kcat import system_kcat
from bench.servers import create_topic
from bench.workloads import KCAT_PRODUCE
from tests.support.broker_process import BrokerProcess

PARTITIONS = 6


def fill(broker: BrokerProcess, messages: int, work: Path) -> None:
    """``messages`` x 100 B over the partitions, written by kcat."""
    lines = work / "lines.txt"
    lines.write_bytes((b"r" * 99 + b"\n") * (messages // PARTITIONS))
    kcat = system_kcat()
    for partition in range(PARTITIONS):
        kcat.run("-P", "-b", broker.bootstrap, "-t", "big", "-p", str(partition), *KCAT_PRODUCE,
                 stdin=lines)  # fmt: skip
    lines.unlink()


def timed_start(broker: BrokerProcess) -> tuple[float, float]:
    """Seconds from exec to the READY line, and the peak RSS right after it."""
    started = time.perf_counter()
    broker.start(timeout=600)
    seconds = time.perf_counter() - started
    assert broker.proc is not None
    return seconds, usage(broker.proc.pid).peak_rss_mb


def report(label: str, seconds: float, rss_mb: float) -> None:
    print(f"{label:<37} {seconds:6.2f} s to READY  peak RSS {rss_mb:6.1f} MB", flush=True)


def main(messages: int) -> None:
    with tempfile.TemporaryDirectory(prefix="chirpstream-restart-") as folder:
        work = Path(folder)
        broker = BrokerProcess(work / "data", work / "broker.log").start()
        try:
            create_topic(broker.bootstrap, "big", PARTITIONS)
            fill(broker, messages, work)
            size_gb = sum(f.stat().st_size for f in (work / "data").rglob("*.log")) / 1e9
            print(f"restart with {messages:,} x 100 B messages on disk ({size_gb:.2f} GB of log)")
            # Killed right after the writes: the last ones are not yet flushed or checkpointed.
            broker.kill()
            report("after SIGKILL right after the writes", *timed_start(broker))
            broker.term()
            report("after a clean stop (SIGTERM)", *timed_start(broker))
        finally:
            broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.restart")
    parser.add_argument("--messages", type=int, default=10_000_000)
    main(parser.parse_args().messages)
