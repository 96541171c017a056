"""Ingest throughput: simulated tweets generated per second on one core, and tweets per
second published into the bundled broker by ``python -m ingest``. Run with
``python -m bench.ingest``; ``make bench`` runs it too."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

from ingest.simulate import SimulatedSource
from tests.support.broker_process import ROOT, BrokerProcess
from tests.support.commands import simulated_ingest


def generation_rate(count: int) -> float:
    source = SimulatedSource(seed=1, rate=None)
    started = time.perf_counter()
    for number, _ in enumerate(source.envelopes(), 1):
        if number == count:
            break
    return count / (time.perf_counter() - started)


def publish_rate(count: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="chirpstream-ingest-") as work:
        broker = BrokerProcess(Path(work) / "data", Path(work) / "broker.log").start()
        try:
            started = time.perf_counter()
            done = subprocess.run(
                simulated_ingest(broker.bootstrap, count, 1),
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            )
            elapsed = time.perf_counter() - started
        finally:
            broker.stop()
    summary = re.search(r"done, sent \d+, delivered \d+, errors \d+", done.stdout)
    return count / elapsed, summary.group(0) if summary else done.stdout[-200:]


def main() -> None:
    print("ingest throughput")
    print(f"simulated tweets generated, one core    {generation_rate(200_000):10,.0f} tweets/s")
    rate, summary = publish_rate(200_000)
    print(
        f"published into the bundled broker       {rate:10,.0f} tweets/s "
        f"(whole process, start-up included; {summary})"
    )


if __name__ == "__main__":
    main()
