"""The status line ``chirpstream up`` prints every few seconds: tweets in/s, processed/s and
lag, from the high watermarks of ``tweets`` and the analytics group's commits; the brokers up
and the partitions whose in-sync replicas are fewer than their replicas.

The figures are read with the project's own wire client (``dashboard.cluster_probe``), not
librdkafka: librdkafka 2.16.0 (bundled in confluent-kafka 2.16.1 and 2.16.2) now and then
crashes its whole process (SIGSEGV in its ``rdk:main`` thread) while a broker restarts, and
``up`` must outlive any broker. The wire client speaks PLAINTEXT only, so on a cluster whose
``security.protocol`` is TLS or SASL the same figures are read with librdkafka in a child
process (``python -m chirpstream.status_reader``), started again should it die; the other
``-X`` settings are librdkafka's own and matter only there.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Protocol

from chirpstream.settings import ANALYTICS_GROUP, TWEETS_TOPIC
from dashboard.cluster_probe import ClusterProbe, speaks

ANSWER_TIMEOUT_S = 5.0  # a status line waits this long for each answer of the cluster


@dataclass(frozen=True)
class Sample:
    """One reading of the cluster: sums over the partitions of ``tweets``."""

    high: int  # high watermarks
    committed: int  # the analytics group's committed offsets (none yet: 0)
    brokers: int  # brokers up
    under_replicated: int  # partitions of every topic


class Reader(Protocol):
    def sample(self) -> Sample | str:
        """A sample, or why there is none (one phrase)."""

    def close(self) -> None: ...


class StatusLine:
    """Formats each reading, with the rates since the previous one."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._last: tuple[float, Sample] | None = None

    def line(self) -> str:
        sample = self._reader.sample()
        if isinstance(sample, str):
            return f"status: {sample}"
        now = time.monotonic()
        rates = ""
        if self._last is not None:
            then, last = self._last
            rates = (
                f"{(sample.high - last.high) / (now - then):6.0f} tweets in/s "
                f"{(sample.committed - last.committed) / (now - then):6.0f} processed/s  "
            )
        self._last = (now, sample)
        brokers, under = sample.brokers, sample.under_replicated
        return (
            f"status: {rates}{sample.high:,} tweets  lag {sample.high - sample.committed:,}  "
            f"{brokers} broker{'s' if brokers != 1 else ''} up  "
            f"{under} under-replicated partition{'s' if under != 1 else ''}"
        )

    def close(self) -> None:
        self._reader.close()


def status_line(bootstrap: str, client_config: dict[str, str]) -> StatusLine:
    """The status line of the cluster at ``bootstrap``, read over the wire client unless the
    cluster needs TLS or SASL."""
    if speaks(client_config):
        return StatusLine(WireReader(bootstrap))
    return StatusLine(ChildReader(bootstrap, client_config))


class WireReader:
    """Metadata (brokers, ISR), the leaders' high watermarks and the group's coordinator's
    commits, over ``ClusterProbe``: the metadata first, so the offsets questions go to the
    leaders it names now."""

    def __init__(self, bootstrap: str) -> None:
        self._probe = ClusterProbe(bootstrap, None, ANSWER_TIMEOUT_S)

    def sample(self) -> Sample | str:
        view = self._probe.view()
        if view is None:
            return "the cluster is not answering"
        tweets = [p for p in view.partitions if p.topic == TWEETS_TOPIC]
        offsets = self._probe.offsets(view, tweets)
        waiting = [p.partition for p in tweets if (p.topic, p.partition) not in offsets]
        if not tweets or waiting:
            named = ", ".join(f"{TWEETS_TOPIC}-{p}" for p in waiting) or TWEETS_TOPIC
            return f"waiting for the leader of {named} to answer"
        committed = self._probe.committed(ANALYTICS_GROUP, [(p.topic, p.partition) for p in tweets])
        if committed is None:
            return f"waiting for the coordinator of the group {ANALYTICS_GROUP} to answer"
        return Sample(
            high=sum(high for _, high in offsets.values()),
            committed=sum(max(offset, 0) for offset in committed.values()),
            brokers=sum(b.state == "running" for b in view.brokers),
            under_replicated=sum(len(p.isr) < len(p.replicas) for p in view.partitions),
        )

    def close(self) -> None:
        self._probe.close()


class ChildReader:
    """Samples from ``python -m chirpstream.status_reader``, which reads them with
    librdkafka: one JSON line answered per line asked. Its settings go through its stdin,
    so secrets stay off command lines. Should it die or hang, the line says so and the
    next sample starts another."""

    WAIT_S = 3 * ANSWER_TIMEOUT_S + 1  # it asks three questions, each waiting this long

    def __init__(self, bootstrap: str, client_config: dict[str, str]) -> None:
        self._settings = json.dumps({"bootstrap.servers": bootstrap, **client_config})
        self._child: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id, while one runs."""
        return None if self._child is None else self._child.pid

    def sample(self) -> Sample | str:
        child = self._child or self._start()
        try:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write("\n")
            child.stdin.flush()
            ready, _, _ = select.select([child.stdout], [], [], self.WAIT_S)
            answer = child.stdout.readline() if ready else None
        except BrokenPipeError:
            answer = ""
        if answer is None:
            self.close()
            return f"the cluster did not answer within {self.WAIT_S:.0f} s"
        if not answer:
            code = child.wait()
            self._child = None
            return f"the status reader exited with {code}; another one starts"
        reading = json.loads(answer)
        if "error" in reading:
            return str(reading["error"])
        return Sample(**reading)

    def _start(self) -> subprocess.Popen[str]:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "chirpstream.status_reader"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._child.stdin is not None
        self._child.stdin.write(self._settings + "\n")
        return self._child

    def close(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            self._child = None
