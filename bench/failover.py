"""Failover on a cluster of three bundled nodes with the bundled defaults, as
``chirpstream cluster --brokers 3`` runs it (node 0 is also the single controller, so the
partitions measured lead on nodes 1 and 2: replicas [1, 2, 0], min.insync.replicas=2).

- SIGKILL: an idempotent acks=all producer writes one 100 B message every ``INTERVAL_S``;
  the partition's leader is SIGKILLed; the figure is the time from the kill to the first ack
  of a message sent after it (the old leader is gone, so the new one acked it), over ``--runs``
  runs on fresh topics: median and max. Issue 14's target: at most 4 s. It breaks that time
  down: when the controller fenced the killed broker (its log line; the new leader is elected
  in the same metadata records), when each surviving broker's Metadata first named the new
  leader, when librdkafka applied the new leader (its ``topic`` debug line), when it sent its
  first write to it (its ``msg`` debug line) and when the first write was acked. The rest is
  the client's: librdkafka asks again who leads a partition whose leader is down only on its
  one-second topic scan (``rd_kafka_topic_scan_all``, not a setting), and when that same
  answer drops the fenced broker (Kafka lists only unfenced brokers) librdkafka 2.16
  decommissions that broker's handle while the partition migrates off it and parks the
  partition on its internal broker ("Reverting from preferred replica 2 to leader -1" in its
  debug log) until the next scan, one second after the one that found the new leader: so
  0-1 s pass between "every broker names the new leader" and "librdkafka applies it", and
  one more second before it sends the first write. ``--metadata-refresh-ms`` sets the
  producer's ``topic.metadata.refresh.interval.ms``: a periodic refresh ends both waits
  sooner.
- SIGTERM: the same producer while the leader shuts down cleanly (the controller moves its
  leadership first): how many writes failed (target: none) and the longest time without an
  ack, from the signal until the node has exited and a second after (target: at most 0.5 s),
  over ``--term-runs`` runs: median and max.
- ``--broker-config NAME=VALUE`` runs the nodes with another setting than the bundled one
  (``broker.session.timeout.ms``, say) to show what it would change.
- Catch-up: a follower is stopped while ``--behind-mb`` MB are written (acks=1), then
  started: the time from its start until it is back in the ISR, and the rate that makes.

Run with ``python -m bench.failover``; ``make bench`` runs it.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import logging
import re
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer

from tests.support.cluster import NO_LEADER, Cluster

INTERVAL_S = 0.002
REPLICAS = [1, 2, 0]  # node 0, the controller, is never the one stopped
TOPIC_CONFIG = {"min.insync.replicas": "2"}
CATCH_UP_MESSAGE = 1000  # bytes per message written while the follower is away


class ClientLog(logging.Handler):
    """From librdkafka's debug lines about ``topic`` partition 0: when it applied each new
    leader (its "topic" line ``t [0]: leader 1 epoch 0 -> leader 2 epoch 1``) and when it
    sent each Produce (its "msg" line ``host:port/2: t [0]: Produce MessageSet ...``), as
    (monotonic time, broker id)."""

    def __init__(self, topic: str) -> None:
        super().__init__(logging.DEBUG)
        name = re.escape(topic) + r" \[0\]: "
        self._leader = re.compile(name + r"leader -?\d+ epoch -?\d+ -> leader (\d+)")
        self._produce = re.compile(r"/(\d+): " + name + "Produce MessageSet")
        self.seen: list[tuple[float, int]] = []
        self.sent: list[tuple[float, int]] = []
        self.logger = logging.getLogger(f"failover.librdkafka.{topic}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if found := self._produce.search(message):
            self.sent.append((time.monotonic(), int(found.group(1))))
        elif found := self._leader.search(message):
            self.seen.append((time.monotonic(), int(found.group(1))))

    def first_leader(self, leader: int, after: float) -> float | None:
        return next((at for at, seen in self.seen if seen == leader and at > after), None)

    def first_sent(self, broker: int, after: float) -> float | None:
        return next((at for at, to in self.sent if to == broker and at > after), None)


class Watch:
    """Polls each surviving broker's Metadata every ``POLL_S`` until it names a new leader:
    when each did, as monotonic times."""

    POLL_S = 0.01

    def __init__(self, cluster: Cluster, topic: str, old_leader: int) -> None:
        self.named: dict[int, float] = {}
        self._cluster, self._topic, self._old = cluster, topic, old_leader
        self._nodes = [n.node_id for n in cluster.brokers if n.node_id != old_leader]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.named) < len(self._nodes):
            for node in self._nodes:
                if node in self.named:
                    continue
                seen = self._cluster.view(node, self._topic, 0)
                if seen is not None and seen.leader not in (NO_LEADER, self._old):
                    self.named[node] = time.monotonic()
            time.sleep(self.POLL_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


_FENCED = re.compile(r"^(\S+ \S+) WARNING .*fenced broker\(s\) \[([\d, ]+)\]")


def fenced_at(cluster: Cluster, node: int, after_wall: float) -> float | None:
    """The wall time at which the controller logged fencing ``node`` after ``after_wall``."""
    log_text = cluster.node(cluster.controller()).log_path.read_text(errors="replace")
    for line in log_text.splitlines():
        found = _FENCED.match(line)
        if found and node in {int(n) for n in found.group(2).split(",")}:
            at = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if at > after_wall - 0.01:  # the log's clock has millisecond steps
                return at
    return None


@dataclass
class KillRun:
    """Seconds from the SIGKILL of the leader to each step (None: not seen)."""

    fenced: float | None
    named: list[float]  # by each surviving broker's Metadata
    client: float | None  # librdkafka applied the new leader
    sent: float | None  # librdkafka sent its first Produce to the new leader
    acked: float


class Probe:
    """An idempotent acks=all producer sending one small message every ``INTERVAL_S`` to
    partition 0, recording when each was sent and when it was acked (or failed)."""

    def __init__(self, bootstrap: str, topic: str, metadata_refresh_ms: int | None = None) -> None:
        self._config: dict[str, object] = {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "message.timeout.ms": 30_000,
            "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 100,
            "retry.backoff.ms": 20,
            "log_level": 3,
        }
        if metadata_refresh_ms is not None:
            self._config["topic.metadata.refresh.interval.ms"] = metadata_refresh_ms
        # librdkafka's "topic" and "msg" debug lines say when it applies a new leader and
        # when it sends a Produce to it (ClientLog).
        self.client_log = ClientLog(topic)
        self._config.update(debug="topic,msg", log_level=7, logger=self.client_log.logger)
        self.topic = topic
        self._lock = threading.Lock()
        self._sent: list[float] = []  # by sequence number
        self._acks: list[tuple[float, int]] = []  # (acked at, sequence number)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Probe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        producer = Producer(self._config)
        while not self._stop.is_set():
            with self._lock:
                sequence = len(self._sent)
                self._sent.append(time.monotonic())
            producer.produce(self.topic, str(sequence).encode(), partition=0,
                             on_delivery=self._delivered)  # fmt: skip
            deadline = time.monotonic() + INTERVAL_S
            while (left := deadline - time.monotonic()) > 0:
                producer.poll(left)
        producer.flush(30)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        now = time.monotonic()
        with self._lock:
            if error is None:
                self._acks.append((now, int(message.value())))
            else:
                self.errors.append(error.str())

    def acked(self) -> int:
        with self._lock:
            return len(self._acks)

    def wait_for_acks(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.acked()} of {count} acks came")
            time.sleep(0.01)

    def first_ack_of_a_message_sent_after(self, moment: float, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [at for at, seq in self._acks if self._sent[seq] > moment]
            if found:
                return min(found)
            time.sleep(0.005)
        raise RuntimeError(f"no ack of a message sent after the kill within {timeout:.0f} s")

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time in [start, end] without an ack."""
        with self._lock:
            times = sorted(at for at, _ in self._acks if start <= at <= end)
        edges = [start, *times, end]
        return max(later - earlier for earlier, later in itertools.pairwise(edges))


def sigkill_failover(cluster: Cluster, run: int, metadata_refresh_ms: int | None = None) -> KillRun:
    """The steps from the SIGKILL of partition 0's leader to the first ack on the new one."""
    topic = f"failover-kill-{run}"
    cluster.create_topic(topic, assignment=[REPLICAS], **TOPIC_CONFIG)
    probe = Probe(cluster.bootstrap, topic, metadata_refresh_ms).start()
    try:
        probe.wait_for_acks(200)
        leader = cluster.wait_for_leader(topic, 0)
        killed_wall, killed_at = time.time(), time.monotonic()
        cluster.kill(leader)
        watch = Watch(cluster, topic, leader)
        new_leader = cluster.wait_for_leader(topic, 0, not_=leader)
        acked = probe.first_ack_of_a_message_sent_after(killed_at) - killed_at
        watch.stop()
    finally:
        probe.stop()
    fenced = fenced_at(cluster, leader, killed_wall)
    client = probe.client_log.first_leader(new_leader, killed_at)
    sent = probe.client_log.first_sent(new_leader, killed_at)
    cluster.start_node(leader)
    return KillRun(
        None if fenced is None else fenced - killed_wall,
        sorted(at - killed_at for at in watch.named.values()),
        None if client is None else client - killed_at,
        None if sent is None else sent - killed_at,
        acked,
    )


def sigterm_pause(cluster: Cluster, run: int) -> tuple[float, int]:
    """(longest time without an ack, failed writes) around a controlled shutdown."""
    topic = f"failover-term-{run}"
    cluster.create_topic(topic, assignment=[REPLICAS], **TOPIC_CONFIG)
    probe = Probe(cluster.bootstrap, topic).start()
    try:
        probe.wait_for_acks(200)
        leader = cluster.wait_for_leader(topic, 0)
        started = time.monotonic()
        cluster.terminate(leader)
        time.sleep(1.0)
        gap = probe.longest_gap(started, time.monotonic())
    finally:
        probe.stop()
    cluster.start_node(leader)
    return gap, len(probe.errors)


def catch_up(cluster: Cluster, behind_mb: int) -> tuple[float, float]:
    """(seconds from the follower's start to its return to the ISR, MB/s)."""
    topic = "catch-up"
    cluster.create_topic(topic, assignment=[REPLICAS])
    follower = REPLICAS[1]
    cluster.terminate(follower)
    messages = behind_mb * 1_000_000 // CATCH_UP_MESSAGE
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": 1, "linger.ms": 20,
                         "batch.size": 1_000_000, "log_level": 3})  # fmt: skip
    payload = b"c" * CATCH_UP_MESSAGE
    for _ in range(messages):
        while True:
            try:
                producer.produce(topic, payload, partition=0)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(600):
        raise RuntimeError("the catch-up data was not all written")
    started = time.monotonic()
    cluster.start_node(follower)
    deadline = started + 600
    while follower not in cluster.isr(topic, 0):
        if time.monotonic() > deadline:
            raise RuntimeError(f"node {follower} did not rejoin the ISR within 600 s")
        time.sleep(0.05)
    seconds = time.monotonic() - started
    return seconds, messages * CATCH_UP_MESSAGE / 1e6 / seconds


def _first(times: list[float]) -> float | None:
    return times[0] if times else None


def _last(times: list[float]) -> float | None:
    return times[-1] if times else None


def _summary(seconds: list[float | None]) -> str:
    known = [s for s in seconds if s is not None]
    if not known:
        return "not seen"
    shown = ", ".join("?" if s is None else f"{s:.2f}" for s in seconds)
    return f"median {statistics.median(known):.2f} s, max {max(known):.2f} s ({shown})"


def main(
    runs: int,
    term_runs: int,
    behind_mb: int,
    metadata_refresh_ms: int | None = None,
    broker_config: dict[str, str] | None = None,
) -> None:
    client = (
        "librdkafka's metadata refresh"
        if metadata_refresh_ms is None
        else f"the producer's topic.metadata.refresh.interval.ms={metadata_refresh_ms}"
    )
    settings = (
        ", ".join(f"{k}={v}" for k, v in broker_config.items())
        if broker_config
        else "bundled defaults"
    )
    print(
        f"failover on 3 bundled nodes ({settings}), {runs} SIGKILL runs, {client}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="chirpstream-failover-") as folder:
        cluster = Cluster(Path(folder) / "failover", 3, config=broker_config)
        try:
            cluster.start()
            kills = [sigkill_failover(cluster, run, metadata_refresh_ms) for run in range(runs)]
            for what, seconds in (
                ("the controller fenced it (and elected)", [k.fenced for k in kills]),
                ("a surviving broker names the new leader", [_first(k.named) for k in kills]),
                ("every surviving broker names it", [_last(k.named) for k in kills]),
                ("librdkafka applies the new leader", [k.client for k in kills]),
                ("librdkafka sends its first write to it", [k.sent for k in kills]),
                ("first acked write on it", [k.acked for k in kills]),
            ):  # fmt: skip
                print(f"SIGKILL of the leader -> {what}: {_summary(seconds)}", flush=True)
            terms = [sigterm_pause(cluster, run) for run in range(term_runs)]
            print(
                f"SIGTERM of the leader (controlled shutdown), {term_runs} runs: longest time "
                f"without an ack {_summary([gap for gap, _ in terms])}, failed writes "
                f"{sum(failed for _, failed in terms)}",
                flush=True,
            )
            seconds, rate = catch_up(cluster, behind_mb)
            print(
                f"a follower {behind_mb} MB behind: back in the ISR {seconds:.1f} s after its "
                f"start, {rate:.1f} MB/s",
                flush=True,
            )
        finally:
            cluster.stop()


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name, value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.failover")
    parser.add_argument("--runs", type=int, default=10, help="SIGKILL runs (default 10)")
    parser.add_argument("--term-runs", type=int, default=5, help="SIGTERM runs (default 5)")
    parser.add_argument(
        "--behind-mb", type=int, default=1024, help="MB a follower catches up (default 1024)"
    )
    parser.add_argument(
        "--metadata-refresh-ms",
        type=int,
        help="the SIGKILL producer's topic.metadata.refresh.interval.ms (default: librdkafka's)",
    )
    parser.add_argument(
        "--broker-config",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a broker setting for every node instead of the bundled default (repeatable), "
        "e.g. broker.session.timeout.ms=2000",
    )
    arguments = parser.parse_args()
    main(
        arguments.runs,
        arguments.term_runs,
        arguments.behind_mb,
        arguments.metadata_refresh_ms,
        dict(arguments.broker_config),
    )
