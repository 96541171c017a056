"""Consumer-group timings against the bundled broker, with confluent-kafka's defaults.

Prints: time from ``subscribe()`` to the first message for a new group; time for the group to
settle (every partition owned again) after a second member joins; and after a member is
SIGKILLed, with the default session timeout (45 s) and with 6 s.
Run with ``python -m bench.groups``; ``make bench`` runs it too.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer

from bench.servers import create_topic
from tests.support.broker_process import ROOT, BrokerProcess
from tests.support.confluent import produce
from tests.support.messages import keyed_messages

TOPIC = "tweets"


def _owned(consumer: Consumer) -> set[int]:
    return {tp.partition for tp in consumer.assignment()}


def first_message(bootstrap: str) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "first-message",
            "auto.offset.reset": "earliest",
        }
    )
    started = time.perf_counter()
    consumer.subscribe([TOPIC])
    while (msg := consumer.poll(0.01)) is None or msg.error():
        pass
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def settle_after_join(bootstrap: str) -> float:
    config = {"bootstrap.servers": bootstrap, "group.id": "joiners", "auto.offset.reset": "latest"}
    first = Consumer(config)
    first.subscribe([TOPIC])
    while len(_owned(first)) < 6:
        first.poll(0.01)
    second = Consumer(config)
    started = time.perf_counter()
    second.subscribe([TOPIC])
    while not (
        _owned(first) | _owned(second) == set(range(6)) and _owned(first) and _owned(second)
    ):
        first.poll(0.01)
        second.poll(0.01)
    elapsed = time.perf_counter() - started
    first.close()
    second.close()
    return elapsed


def settle_after_death(bootstrap: str, session_timeout_ms: int, work: Path) -> float:
    """SIGKILL one of two members; seconds until the survivor owns every partition."""
    group = f"dying-{session_timeout_ms}"
    heartbeat_ms = min(3000, session_timeout_ms // 3)  # librdkafka's default is 3000
    timeouts = {
        "session.timeout.ms": str(session_timeout_ms),
        "heartbeat.interval.ms": str(heartbeat_ms),
    }
    log = work / f"{group}.log"
    with log.open("w") as out:
        victim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.group_consumer",
                bootstrap,
                group,
                TOPIC,
                "range",
                *(f"{k}={v}" for k, v in timeouts.items()),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    survivor = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **timeouts})
    survivor.subscribe([TOPIC])
    while not (0 < len(_owned(survivor)) < 6 and _victim_owns(log)):
        survivor.poll(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    started = time.perf_counter()
    while len(_owned(survivor)) < 6:
        survivor.poll(0.05)
    elapsed = time.perf_counter() - started
    survivor.close()
    return elapsed


def _victim_owns(log: Path) -> bool:
    owned: set[int] = set()
    for line in log.read_text().splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "assigned":
            owned = set(event["partitions"])
        elif event.get("event") == "revoked":
            owned = set()
    return bool(owned)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chirpstream-groups-") as work:
        broker = BrokerProcess(Path(work) / "data", Path(work) / "broker.log").start()
        try:
            create_topic(broker.bootstrap, TOPIC, 6)
            produce(broker.bootstrap, TOPIC, keyed_messages(600))
            print("consumer-group timings (confluent-kafka defaults, 6 partitions)")
            first = first_message(broker.bootstrap)
            print(f"subscribe() to first message, new group      {first:6.2f} s")
            joined = settle_after_join(broker.bootstrap)
            print(f"settled after a second member joins           {joined:6.2f} s")
            for timeout in (45_000, 6_000):
                took = settle_after_death(broker.bootstrap, timeout, Path(work))
                print(
                    f"settled after a member is SIGKILLed, {timeout // 1000:2d} s session "
                    f"{took:6.2f} s"
                )
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
