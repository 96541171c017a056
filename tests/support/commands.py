"""Command lines for the pipeline's services, as tests and benchmarks start them."""

from __future__ import annotations

import sys


def service(module: str, bootstrap: str, *args: str) -> list[str]:
    """``python -m <module> --bootstrap-servers <bootstrap> <args>`` in this interpreter."""
    return [sys.executable, "-m", module, "--bootstrap-servers", bootstrap, *args]


def simulated_ingest(bootstrap: str, limit: int, seed: int, *args: str) -> list[str]:
    """Publish ``limit`` seeded simulated tweets as fast as possible."""
    return service(
        "ingest", bootstrap, "--rate", "max", "--limit", str(limit), "--seed", str(seed), *args
    )
