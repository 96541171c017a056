"""Metadata replay at restart (issue 15): a controller rebuilding its image of 10,000 topics x
3 partitions from the metadata log's entries, and from a snapshot of the same state.

The log is what a 3-broker cluster writes: the registrations, one CreateTopics entry per
topic (replication factor 3), then ``--rolling-restarts`` rolling restarts (each broker
fenced, its leaderships and ISR places moved, registered again, caught up, given its
preferred leaderships back). It
is replayed in memory through ``QuorumController`` as the Raft runtime hands it entries; the
snapshot is of the image it ends with. Reading the log or the snapshot file from disk (the
Raft store's part) is not included. A broker's side is measured too: the same log through
``MetadataPublisher`` (with a subscriber, as the replica manager is one) in the batches a
follower's fetch hands over (``fetch_max_entries``). Run with ``python -m bench.metadata_replay``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

from broker.clock import ManualClock
from broker.controller.quorum import QuorumController
from broker.metadata.codec import encode
from broker.metadata.image import MetadataImage
from broker.metadata.publisher import MetadataPublisher
from broker.metadata.records import (
    FenceBrokerRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)
from broker.metadata.snapshot import encode_snapshot
from broker.raft.config import QuorumConfig
from broker.raft.messages import Entry

BROKERS = 3
CHANGES_PER_ENTRY = 1000  # partition changes one controller decision writes at most here


class Feed:
    """The Raft runtime as the controller sees it while it replays: a follower's log."""

    is_leader = False
    epoch = 1

    def __init__(self) -> None:
        self.on_commit: Callable[[int, Entry], None] | None = None

    def subscribe(
        self,
        on_commit: Callable[[int, Entry], None],
        on_snapshot: Callable[[int, bytes], None] | None = None,
    ) -> None:
        self.on_commit = on_commit  # the snapshot is loaded by calling load_snapshot here

    async def append(self, values: Sequence[bytes]) -> int:
        raise NotImplementedError("a replaying follower appends nothing")


def cluster_log(topics: int, partitions: int, restarts: int) -> list[list[MetadataRecord]]:
    """The entries' records, in log order (see the module)."""
    entries: list[list[MetadataRecord]] = []
    epochs: dict[int, int] = {}

    def register(broker: int) -> None:
        epochs[broker] = len(entries)
        entries.append([RegisterBrokerRecord(broker, uuid.uuid4(), epochs[broker])])
        entries.append([UnfenceBrokerRecord(broker, epochs[broker])])

    for broker in range(BROKERS):
        register(broker)
    layout: list[tuple[uuid.UUID, int, tuple[int, ...]]] = []
    for t in range(topics):
        topic_id = uuid.uuid4()
        records: list[MetadataRecord] = [TopicRecord(f"topic-{t:05d}", topic_id)]
        for p in range(partitions):
            replicas = tuple((t + p + k) % BROKERS for k in range(BROKERS))
            records.append(PartitionRecord(p, topic_id, replicas, replicas, replicas[0]))
            layout.append((topic_id, p, replicas))
        entries.append(records)
    for broker in [b for _ in range(restarts) for b in range(BROKERS)]:  # rolling restarts
        others = tuple(b for b in range(BROKERS) if b != broker)
        fenced: list[MetadataRecord] = [FenceBrokerRecord(broker, epochs[broker])]
        caught_up: list[MetadataRecord] = []
        preferred: list[MetadataRecord] = []
        for topic_id, p, replicas in layout:
            leads = replicas[0] == broker
            new_leader = others[0] if leads else -2
            isr = tuple(r for r in replicas if r != broker)
            fenced.append(PartitionChangeRecord(p, topic_id, isr=isr, leader=new_leader))
            caught_up.append(PartitionChangeRecord(p, topic_id, isr=replicas))
            if leads:
                preferred.append(PartitionChangeRecord(p, topic_id, leader=broker))
        entries.extend(_chunks(fenced))
        register(broker)
        entries.extend(_chunks(caught_up))
        entries.extend(_chunks(preferred))
    return entries


def _chunks(records: list[MetadataRecord]) -> Iterator[list[MetadataRecord]]:
    for start in range(0, len(records), CHANGES_PER_ENTRY):
        yield records[start : start + CHANGES_PER_ENTRY]


def replay_log(values: list[bytes]) -> tuple[float, MetadataImage]:
    feed = Feed()
    controller = QuorumController(0, feed, ManualClock(0))
    assert feed.on_commit is not None
    started = time.perf_counter()
    for offset, value in enumerate(values):
        feed.on_commit(offset, Entry(1, value))
    image = controller.image
    return time.perf_counter() - started, image


def replay_publisher(values: list[bytes]) -> tuple[float, int, MetadataImage]:
    """A broker catching up: the entries handed to its publisher a fetch's worth at a time,
    the loop turning between fetches. Returns the time, the images published, the image."""

    async def catch_up() -> tuple[float, int, MetadataImage]:
        publisher = MetadataPublisher()
        published = 0

        def count(old: MetadataImage, new: MetadataImage) -> None:
            nonlocal published
            published += 1

        publisher.subscribe(count)
        batch = QuorumConfig().fetch_max_entries
        started = time.perf_counter()
        for start in range(0, len(values), batch):
            for offset in range(start, min(start + batch, len(values))):
                publisher.on_commit(offset, Entry(1, values[offset]))
            await asyncio.sleep(0)
        image = publisher.image
        return time.perf_counter() - started, published, image

    return asyncio.run(catch_up())


def replay_snapshot(end_offset: int, data: bytes) -> tuple[float, MetadataImage]:
    controller = QuorumController(0, Feed(), ManualClock(0))
    started = time.perf_counter()
    controller.load_snapshot(end_offset, data)
    image = controller.image
    return time.perf_counter() - started, image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rolling-restarts", type=int, default=1)
    args = parser.parse_args()

    log = cluster_log(args.topics, args.partitions, args.rolling_restarts)
    values = [encode(records) for records in log]
    log_bytes = sum(len(v) for v in values)
    from_log, image = replay_log(values)
    started = time.perf_counter()
    data = encode_snapshot(image)
    encoding = time.perf_counter() - started
    from_snapshot, loaded = replay_snapshot(len(values), data)
    assert loaded == image, "the snapshot does not rebuild the image the log does"

    print(
        f"metadata: {args.topics} topics x {args.partitions} partitions, {BROKERS} brokers, "
        f"{args.rolling_restarts} rolling restart(s)"
    )
    print(f"  log: {len(values)} entries, {log_bytes / 1e6:.1f} MB, replayed in {from_log:.2f} s")
    print(
        f"  snapshot: {len(data) / 1e6:.1f} MB (encoded in {encoding:.2f} s), "
        f"loaded in {from_snapshot:.2f} s"
    )
    print(f"  log / snapshot: {from_log / from_snapshot:.1f}x")
    on_broker, published, broker_image = replay_publisher(values)
    assert broker_image == image, "the publisher's image is not the controller's"
    print(f"  a broker's publisher: caught up in {on_broker:.2f} s, {published} images published")


if __name__ == "__main__":
    main()
