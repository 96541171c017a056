"""kcat, with the librdkafka it was built against or with the one inside confluent-kafka's wheel.

Debian's kcat links librdkafka 2.0.2, which cannot talk to tansu (its ApiVersions answer fails
to parse: "Read underflow"). The same kcat binary runs with the newer librdkafka that
confluent-kafka ships when that library comes first on ``LD_LIBRARY_PATH``, so the peer
comparison uses one client binary and one library version for both brokers.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import confluent_kafka


@dataclass(frozen=True)
class Kcat:
    label: str
    env: dict[str, str]

    def run(self, *args: str, stdin: Path | None = None, timeout: float = 600) -> bytes:
        """Run kcat; returns its stdout, raises with its stderr on failure."""
        with stdin.open("rb") if stdin else open(os.devnull, "rb") as source:
            done = subprocess.run(
                ["kcat", *args],
                stdin=source,
                capture_output=True,
                env=self.env,
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(f"{self.label} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def start(self, *args: str, stdin: Path) -> subprocess.Popen:
        with stdin.open("rb") as source:
            return subprocess.Popen(
                ["kcat", *args], stdin=source, stdout=subprocess.DEVNULL, env=self.env
            )


def system_kcat() -> Kcat:
    return Kcat("kcat (librdkafka 2.0.2)", dict(os.environ))


def wheel_kcat(work: Path) -> Kcat:
    """kcat loading confluent-kafka's bundled librdkafka through a symlink in ``work``."""
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    library = next(libs.glob("librdkafka*.so*"))
    folder = work / "librdkafka"
    folder.mkdir(exist_ok=True)
    link = folder / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(library)
    env = {**os.environ, "LD_LIBRARY_PATH": str(folder)}
    return Kcat(f"kcat (librdkafka {confluent_kafka.libversion()[0]})", env)
