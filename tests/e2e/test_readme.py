"""The README's walkthrough, run as written: step 7's commands against a broker that checks
retention every second (as the one ``chirpstream up`` starts does) print its sample."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.broker_process import ROOT


def walkthrough_step(number: int) -> tuple[str, list[str]]:
    """The shell commands of step ``number``'s code block, and its sample output lines."""
    readme = (ROOT / "README.md").read_text()
    step = readme.split(f"**{number}. ", 1)[1].split(f"**{number + 1}. ", 1)[0]
    block = step.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = "\n".join(line for line in block.splitlines() if not line.startswith("#"))
    samples = [
        re.sub(r"\s+<-.*$", "", line.removeprefix("# "))
        for line in block.splitlines()
        if line.startswith("# ") and line != "# ..."
    ]
    return commands, samples


def test_step_7_prints_its_sample(broker_factory):
    broker = broker_factory(config={"log.retention.check.interval.ms": "1000"})
    commands, samples = walkthrough_step(7)
    assert samples, "step 7 shows what the consume prints"
    command = Path(sys.executable).parent / "chirpstream"
    # Every `chirpstream` of the step, pointed at the test's broker.
    script = f'chirpstream() {{ "{command}" "$@" --bootstrap-servers {broker.bootstrap}; }}\n'
    script += commands
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=90, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.splitlines() if line.startswith("Offset:")]
    assert printed[: len(samples)] == samples, done.stdout
