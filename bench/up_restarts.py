"""``chirpstream up`` through broker restarts: a 3-node ``up`` (no dashboard) whose brokers are
killed and restarted in turn, as the Cluster page's Kill and Restart do
(``chirpstream.controls``), ``--rounds`` times. It prints whether ``up`` outlived them all,
the services that died (``up`` reports each), how many status lines it printed and how many
of them were figures, and the ``rdk:main`` segfaults the kernel logged meanwhile (``dmesg``,
where readable). librdkafka 2.16.0's admin ListConsumerGroupOffsets used to crash ``up`` in
about one restart in three (SIGSEGV in ``rdk:main``, librdkafka issue 5040).

Run with ``python -m bench.up_restarts``.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chirpstream import controls

UP_S = 120.0
SETTLE_S = 5.0  # after each restart, before the next kill
SEGFAULT = re.compile(r"rdk:main\[\d+\]: segfault")


def segfaults() -> int | None:
    """librdkafka segfaults the kernel has logged so far; None where dmesg is not readable."""
    try:
        found = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return len(SEGFAULT.findall(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.up_restarts")
    parser.add_argument("--rounds", type=int, default=6, help="kill+restart rounds (default 6)")
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="bench-up-restarts-"))
    output = data / "up.out"
    before = segfaults()
    with output.open("w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "chirpstream", "up", "--brokers", "3", "--no-dashboard",
             "--broker-port", "0", "--rate", "100", "--data-dir", str(data)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    deadline = time.monotonic() + UP_S
    while "chirpstream is up" not in output.read_text(errors="replace"):
        if up.poll() is not None or time.monotonic() > deadline:
            print(f"up did not start; see {output}")
            return 1
        time.sleep(0.5)
    rounds = 0
    try:
        for rounds in range(1, args.rounds + 1):
            node = (rounds - 1) % 3
            controls.act(data / "cluster", "kill", node, wait_s=5)
            time.sleep(3)
            controls.act(data / "cluster", "restart", node, wait_s=60)
            time.sleep(SETTLE_S)
            if up.poll() is not None:
                break
    finally:
        survived = up.poll() is None
        if survived:
            up.send_signal(signal.SIGINT)
        up.wait(120)
    text = output.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("status:")]
    figures = [line for line in lines if "processed/s" in line]
    after = segfaults()
    print(f"up {'outlived' if survived else f'died ({up.returncode}) in'} {rounds} kill+restart "
          f"rounds; status lines {len(lines)}, {len(figures)} with figures")  # fmt: skip
    print("services that died:", re.findall(r"^chirpstream: (.*)$", text, re.M) or "none")
    if before is not None and after is not None:
        print(f"rdk:main segfaults logged meanwhile (any process): {after - before}")
    print(f"up's output: {output}")
    return 0 if survived else 1


if __name__ == "__main__":
    sys.exit(main())
