"""What each lesson's button does on the cluster, and what it saw: an ``Outcome`` whose facts
the page shows (and the tests assert).

Every step talks to the cluster as any Kafka client would (confluent-kafka), except the three
that stop a broker: they act through ``chirpstream.controls`` on the cluster ``chirpstream up``
started (``Classroom.record``), and are refused elsewhere. Each of those first restarts any
broker an earlier lesson left stopped, so the lessons can be run in order, or any one again.

The analytics group is described and its commits read by the project's wire client
(``dashboard.cluster_probe``), never by librdkafka 2.16.0's admin group calls, which crash
their process now and then while brokers come and go (DescribeConsumerGroups aborts,
ListConsumerGroupOffsets segfaults: librdkafka issue 5040) and would take the dashboard
with them. On a TLS or SASL cluster, which the wire client cannot reach, the group is
described by librdkafka in a child process, and its commits read by a consumer of the group
(OffsetFetch through its group coordinator, not the admin client).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import (
    Consumer,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from chirpstream import controls, workers
from chirpstream.logs import librdkafka_logging
from chirpstream.run_file import RunRecord
from chirpstream.settings import ANALYTICS_GROUP, STATS_TOPIC, TWEETS_TOPIC
from consumers.crash import Crash
from consumers.fold import StatsFolder
from dashboard import clients, replay
from dashboard.cluster_probe import ClusterProbe, GroupInfo, librdkafka_group_info, speaks
from dashboard.lessons import seeded

TIMEOUT_S = 10.0  # one request to the cluster
SETTLE_S = 30.0  # at most, for an effect to show (an election, a segment deleted)
RESTART_S = 60.0  # at most, for a stopped broker to be running again
# At most, for a crashed worker's partitions to be read again: its session must time out
# first (session.timeout.ms: 10 s for `up`'s workers, librdkafka's default 45 s for others),
# then the next owner catches up and commits.
REREAD_S = 90.0
POLL_S = 0.2
T = TypeVar("T")


class LessonError(Exception):
    """A step that cannot be taken or did not have its effect; the message says why."""


@dataclass(frozen=True)
class Classroom:
    """Where the lessons run: the cluster's bootstrap servers and client settings, the run
    file record of the bundled cluster (None on any other cluster: no broker is stopped) and
    the data directory of the ``chirpstream up`` whose workers the lessons may add or crash
    (None when no ``up`` runs them)."""

    bootstrap: str
    config: Mapping[str, str] = field(default_factory=dict)
    record: RunRecord | None = None
    up_dir: Path | None = None  # the data directory of the `chirpstream up` running workers

    def client(self, **more: Any) -> dict[str, Any]:
        return {**self.config, "bootstrap.servers": self.bootstrap, **more}

    def admin(self) -> AdminClient:
        return clients.admin(self.client())

    def group_consumer(self) -> Consumer:
        """A client of the lesson group that never joins it: it only reads and commits
        offsets, as ``kafka-consumer-groups.sh`` does."""
        config = self.client(**{"group.id": seeded.GROUP, "enable.auto.commit": False})
        return Consumer(librdkafka_logging(config))


@dataclass(frozen=True)
class Outcome:
    """One line saying what was done, and the figures it saw."""

    summary: str
    facts: dict[str, Any]


def _until(found: Callable[[], T | None], what: str, timeout_s: float = SETTLE_S) -> T:
    """The first truthy answer of ``found()`` (an exception counts as none yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = found()
        except KafkaException:
            answer = None
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise LessonError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(POLL_S)


def _partitions(admin: AdminClient, topic: str) -> dict[int, Any]:
    """The topic's partitions as the cluster's metadata names them now (empty if none)."""
    # All topics: asking for one by name lets a broker with auto.create.topics.enable make it.
    found = admin.list_topics(timeout=TIMEOUT_S).topics.get(topic)
    if found is None or found.error is not None:
        return {}
    return dict(found.partitions)


def _watermarks(room: Classroom, topic: str, count: int) -> dict[int, tuple[int, int]]:
    """(log start, high watermark) of each partition of ``topic``."""
    reader = clients.reader(room.client())
    try:
        return {
            p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S)
            for p in range(count)
        }
    finally:
        reader.close()


def _committed(room: Classroom) -> dict[int, int]:
    """The lesson group's committed offset per partition of the lesson topic (-1: none)."""
    consumer = room.group_consumer()
    try:
        asked = [TopicPartition(seeded.TOPIC, p) for p in range(seeded.PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(asked, timeout=TIMEOUT_S)}
    finally:
        consumer.close()


def _commit(room: Classroom, offsets: Mapping[int, int]) -> None:
    """Commit ``offsets`` for the lesson group as a client outside the group does (refused by
    the broker while the group has members, as in Kafka)."""
    consumer = room.group_consumer()
    try:
        consumer.commit(
            offsets=[TopicPartition(seeded.TOPIC, p, o) for p, o in offsets.items()],
            asynchronous=False,
        )
    finally:
        consumer.close()


def _lag(room: Classroom) -> dict[int, int]:
    marks = _watermarks(room, seeded.TOPIC, seeded.PARTITIONS)
    committed = _committed(room)
    return {p: high - max(committed[p], low) for p, (low, high) in marks.items()}


def _produce(room: Classroom, records: list[tuple[str, str]]) -> list[tuple[str, str, int, int]]:
    """Send ``records`` (key, text) to the lesson topic in order, with the pipeline's
    partitioner; each one's (key, text, partition, offset)."""
    producer = clients.producer(
        room.client(
            **{
                "acks": "all",
                "partitioner": "murmur2_random",
                "enable.idempotence": True,
                "message.timeout.ms": int(SETTLE_S * 1000),
            }
        )
    )
    placed: dict[int, tuple[str, str, int, int]] = {}  # by position in ``records``
    errors: list[str] = []

    def delivered(index: int, key: str, text: str) -> Callable[[Any, Any], None]:
        def report(error: Any, message: Any) -> None:
            if error is not None:
                errors.append(str(error))
            else:
                placed[index] = (key, text, message.partition(), message.offset())

        return report

    for index, (key, text) in enumerate(records):
        producer.produce(
            seeded.TOPIC, text.encode(), key.encode(), on_delivery=delivered(index, key, text)
        )
        producer.poll(0)
    producer.flush(SETTLE_S)
    if errors or len(placed) != len(records):
        raise LessonError(f"not every record was stored: {errors[:1] or 'no answer in time'}")
    return [placed[index] for index in range(len(records))]


def _need_lesson_topic(room: Classroom) -> None:
    """Whether the lesson topic exists, waiting a little: a broker other than the one that
    answered lesson 1 may learn of a new topic a moment later."""
    admin = room.admin()
    try:
        _until(lambda: _partitions(admin, seeded.TOPIC), f"topic {seeded.TOPIC!r}", TIMEOUT_S)
    except LessonError:
        raise LessonError(f"no topic {seeded.TOPIC!r} yet: lesson 1 creates it") from None


# -- the steps -------------------------------------------------------------------------------


def create_topic(room: Classroom) -> Outcome:
    """Lesson 1: the lesson topic, 3 partitions, replicated on up to 3 brokers."""
    admin = room.admin()
    brokers = len(admin.list_topics(timeout=TIMEOUT_S).brokers)
    replication = min(3, brokers)
    existed = bool(_partitions(admin, seeded.TOPIC))
    if not existed:
        topic = NewTopic(seeded.TOPIC, seeded.PARTITIONS, replication)
        for future in admin.create_topics([topic], request_timeout=TIMEOUT_S).values():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise LessonError(f"could not create {seeded.TOPIC!r}: {exc}") from None
    parts = _until(
        lambda: (found := _partitions(admin, seeded.TOPIC)) and all(
            p.leader >= 0 for p in found.values()) and found, f"{seeded.TOPIC!r}'s leaders",
    )  # fmt: skip
    leaders = {p: parts[p].leader for p in sorted(parts)}
    summary = (
        f"{seeded.TOPIC!r} {'was already there' if existed else 'created'}: "
        f"{len(parts)} partitions, replication factor {len(parts[0].replicas)}"
    )
    return Outcome(
        summary,
        {
            "partitions": len(parts),
            "replication_factor": len(parts[0].replicas),
            "leaders": leaders,
        },
    )


def produce_keys(room: Classroom) -> Outcome:
    """Lesson 2: the README's six keyed messages, and where murmur2 said they would land."""
    _need_lesson_topic(room)
    placed = _produce(room, list(seeded.MESSAGES))
    rows = [
        {
            "key": key,
            "text": text,
            "partition": partition,
            "offset": offset,
            "predicted": seeded.predicted_partition(key),
        }
        for key, text, partition, offset in placed
    ]
    right = sum(row["partition"] == row["predicted"] for row in rows)
    return Outcome(f"{len(rows)} messages sent; {right} landed where murmur2 said", {"rows": rows})


def add_worker(room: Classroom) -> Outcome:
    """Lesson 3: one more analytics worker (``chirpstream workers --add``): the group
    rebalances and the partitions of ``tweets`` are spread over one member more."""
    up_dir = _pipeline(room)
    count = len(_partitions(room.admin(), TWEETS_TOPIC))
    before = _until(lambda: _settled(room, count), f"the {ANALYTICS_GROUP!r} group settled")
    workers.add_worker(up_dir)
    after = _until(
        lambda: (owners := _settled(room, count)) and len(owners) > len(before) and owners,
        f"a new member in the {ANALYTICS_GROUP!r} group",
        RESTART_S,
    )
    return Outcome(
        f"{ANALYTICS_GROUP!r} went from {len(before)} to {len(after)} members; each partition"
        " of tweets still has one owner",
        {"members_before": before, "members_after": after},
    )


def _settled(room: Classroom, partitions: int) -> dict[str, list[int]] | None:
    """Each member of the analytics group and the tweets partitions it owns, once the group
    is stable with every partition owned exactly once (None until then)."""
    group = _analytics_group(room)
    if group is None or group.state != "STABLE":
        return None
    owners = {
        member.client_id: sorted(p for topic, p in member.assignment if topic == TWEETS_TOPIC)
        for member in group.members
    }
    owned = sorted(p for mine in owners.values() for p in mine)
    return owners if owned == list(range(partitions)) else None


def _analytics_group(room: Classroom) -> GroupInfo | None:
    """The analytics group as its coordinator describes it (None: no answer yet)."""
    if speaks(room.config):
        probe = ClusterProbe(room.bootstrap, None, TIMEOUT_S)
        try:
            return probe.group(ANALYTICS_GROUP)
        finally:
            probe.close()
    spawn = multiprocessing.get_context("spawn")  # never fork a process running librdkafka
    with ProcessPoolExecutor(1, mp_context=spawn) as child:
        try:
            return child.submit(describe_by_librdkafka, room.client(), ANALYTICS_GROUP).result()
        except BrokenProcessPool:  # librdkafka crashed the child; ask again
            return None


def describe_by_librdkafka(config: dict[str, Any], group: str) -> GroupInfo:
    """``group`` described by librdkafka's admin client (run in a child process)."""
    admin = clients.admin(config)  # kept until the answer: a destroyed one never answers
    described = admin.describe_consumer_groups([group], request_timeout=TIMEOUT_S)
    return librdkafka_group_info(group, described[group].result(TIMEOUT_S + 1))


def build_lag(room: Classroom) -> Outcome:
    """Lesson 4: the group caught up, then ``seeded.BURST`` records nobody reads."""
    _need_lesson_topic(room)
    marks = _watermarks(room, seeded.TOPIC, seeded.PARTITIONS)
    _commit(room, {p: high for p, (_, high) in marks.items()})
    before = _lag(room)
    _produce(room, seeded.burst())
    after = _lag(room)
    return Outcome(
        f"lag of {seeded.GROUP!r} went from {sum(before.values())} to {sum(after.values())}",
        {"lag_before": before, "lag_after": after, "lag": sum(after.values())},
    )


def reset_offsets(room: Classroom) -> Outcome:
    """Lesson 5: the group's offsets reset to the earliest the log still holds."""
    _need_lesson_topic(room)
    before = _committed(room)
    marks = _watermarks(room, seeded.TOPIC, seeded.PARTITIONS)
    earliest = {p: low for p, (low, _) in marks.items()}
    try:
        _commit(room, earliest)
    except KafkaException as exc:
        raise LessonError(
            f"reset refused ({exc.args[0].name()}): the group still has members; a reset is"
            " refused while it has, as in Kafka"
        ) from None
    after = _committed(room)
    return Outcome(
        f"{seeded.GROUP!r} moved back from {before} to {after}: "
        f"{sum(_lag(room).values())} records to read again",
        {"before": before, "after": after, "log_start": earliest, "lag": _lag(room)},
    )


def retention(room: Classroom) -> Outcome:
    """Lesson 6: ``retention.ms`` of the lesson topic set to one second until the log start
    moves, then set back to the default."""
    _need_lesson_topic(room)
    before = _watermarks(room, seeded.TOPIC, seeded.PARTITIONS)
    admin = room.admin()
    _alter(admin, AlterConfigOpType.SET, "1000")
    try:
        after = _until(
            lambda: (marks := _watermarks(room, seeded.TOPIC, seeded.PARTITIONS))
            and all(low == high for low, high in marks.values()) and marks,
            "deleting the lesson topic's segments",
        )  # fmt: skip
    finally:
        _alter(admin, AlterConfigOpType.DELETE, None)
    return Outcome(
        "retention.ms=1000 deleted every segment: log start "
        f"{[low for low, _ in before.values()]} → {[low for low, _ in after.values()]}, "
        "then retention.ms was set back to the default",
        {"before": before, "after": after},
    )


def _alter(admin: AdminClient, op: AlterConfigOpType, value: str | None) -> None:
    entry = ConfigEntry("retention.ms", value, incremental_operation=op)
    resource = ConfigResource("TOPIC", seeded.TOPIC, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(TIMEOUT_S)


def kill_follower(room: Classroom) -> Outcome:
    """Lesson 7: kill a follower of tweets-0 (not the active controller when it can): the
    ISR shrinks, the leader stays."""
    data_dir = _all_running(room)
    admin = room.admin()
    part = _partitions(admin, TWEETS_TOPIC)[0]
    controller = _active_controller(room)
    followers = [r for r in part.isrs if r != part.leader]
    if not followers:
        raise LessonError(f"{TWEETS_TOPIC}-0 has no follower in sync to kill")
    victim = next((r for r in followers if r != controller), followers[0])
    before = list(part.isrs)
    controls.act(data_dir, "kill", victim, wait_s=5.0)
    part = _until(
        lambda: (p := _partitions(admin, TWEETS_TOPIC).get(0)) and victim not in p.isrs and p,
        f"the ISR of {TWEETS_TOPIC}-0 shrinking",
    )
    return Outcome(
        f"broker {victim} killed: ISR of {TWEETS_TOPIC}-0 {before} → {list(part.isrs)}, "
        f"leader still {part.leader}",
        {"killed": victim, "isr_before": before, "isr_after": list(part.isrs),
         "leader": part.leader},
    )  # fmt: skip


def kill_leader(room: Classroom) -> Outcome:
    """Lesson 8: kill the leader of tweets-0: another replica in the ISR is elected."""
    data_dir = _all_running(room)
    admin = room.admin()
    before = _until(
        lambda: (p := _partitions(admin, TWEETS_TOPIC).get(0)) and len(p.isrs) == len(p.replicas)
        and p,
        f"every replica of {TWEETS_TOPIC}-0 back in its ISR",
        RESTART_S,
    )  # fmt: skip
    leader = before.leader
    controls.act(data_dir, "kill", leader, wait_s=5.0)
    after = _until(
        lambda: (p := _partitions(admin, TWEETS_TOPIC).get(0)) and p.leader not in (-1, leader)
        and p,
        f"a new leader of {TWEETS_TOPIC}-0",
    )  # fmt: skip
    return Outcome(
        f"broker {leader} killed: {TWEETS_TOPIC}-0 is now led by broker {after.leader}",
        {"killed": leader, "leader_before": leader, "leader_after": after.leader,
         "isr_after": list(after.isrs)},
    )  # fmt: skip


def kill_controller(room: Classroom) -> Outcome:
    """Lesson 9: kill the active controller: the quorum elects another in a new epoch."""
    data_dir = _all_running(room)
    before = _until(lambda: _quorum(room), "an answer from the controller quorum")
    controls.act(data_dir, "kill", before.leader_id, wait_s=5.0)
    after = _until(
        lambda: (q := _quorum(room)) and q.leader_id not in (-1, before.leader_id) and q,
        "a new active controller",
    )
    return Outcome(
        f"controller {before.leader_id} killed: node {after.leader_id} leads the quorum in "
        f"epoch {after.leader_epoch} (was {before.leader_epoch})",
        {"controller_before": before.leader_id, "controller_after": after.leader_id,
         "epoch_before": before.leader_epoch, "epoch_after": after.leader_epoch},
    )  # fmt: skip


def crash_before_commit(room: Classroom) -> Outcome:
    """Lesson 10: one worker dies after its results are acknowledged and before it commits
    (``chirpstream workers --crash-before-commit``); once another member has read its range
    again, the results on tweet-stats are folded: every source offset counted once."""
    up_dir = _pipeline(room)
    logs = up_dir / "logs"
    seen = len(replay.crashes(logs))
    workers.crash_before_commit(up_dir)
    crash = _until(
        lambda: (found := replay.crashes(logs))[seen:] and found[-1], "the worker's crash line"
    )
    _until(lambda: _read_again(room, crash), "another member reading the range", REREAD_S)
    folder, covered = _fold(room)
    counted = folder.totals.tweets + folder.totals.malformed
    ranges = {f"{r.topic}[{r.partition}]": f"{r.first}..{r.last}" for r in crash.ranges}
    return Outcome(
        f"{crash.name} crashed with {ranges} uncommitted; another member read it again and"
        f" the fold dropped {folder.duplicates} repeated results: {counted:,} records counted"
        f" for {covered:,} source offsets",
        {"crashed": crash.name, "uncommitted": ranges, "duplicates_dropped": folder.duplicates,
         "overlaps": folder.overlaps, "records_counted": counted, "offsets_covered": covered},
    )  # fmt: skip


def _read_again(room: Classroom, crash: Crash) -> bool:
    """Whether the group's committed offsets passed every range the crashed worker left."""
    asked = [(r.topic, r.partition) for r in crash.ranges]
    if speaks(room.config):
        probe = ClusterProbe(room.bootstrap, None, TIMEOUT_S)
        try:
            offsets = probe.committed(ANALYTICS_GROUP, asked)
        finally:
            probe.close()
        if offsets is None:
            return False
    else:
        consumer = Consumer(
            librdkafka_logging(
                room.client(**{"group.id": ANALYTICS_GROUP, "enable.auto.commit": False})
            )
        )
        try:
            found = consumer.committed([TopicPartition(t, p) for t, p in asked], TIMEOUT_S)
        finally:
            consumer.close()
        offsets = {(tp.topic, tp.partition): tp.offset for tp in found}
    return all(offsets.get((r.topic, r.partition), -1) > r.last for r in crash.ranges)


def _fold(room: Classroom) -> tuple[StatsFolder, int]:
    """All of tweet-stats folded, and the source offsets its results cover (each once)."""
    count = len(_partitions(room.admin(), STATS_TOPIC))
    marks = _watermarks(room, STATS_TOPIC, count)
    reader = clients.reader(room.client())
    folder = StatsFolder()
    spans: list[tuple[int, int, int]] = []  # (source partition, first, last) of each result
    try:
        reader.assign([TopicPartition(STATS_TOPIC, p, low) for p, (low, _) in marks.items()])
        left = {p for p, (low, high) in marks.items() if high > low}
        deadline = time.monotonic() + SETTLE_S
        while left and time.monotonic() < deadline:
            for message in reader.consume(500, 1.0):
                if message.error() is not None:
                    continue
                if message.offset() + 1 >= marks[message.partition()][1]:
                    left.discard(message.partition())
                result = json.loads(message.value())
                if folder.add(result) != "invalid":
                    spans.append(
                        (result["partition"], result["first_offset"], result["last_offset"])
                    )
    finally:
        reader.close()
    if left:
        raise LessonError(f"{STATS_TOPIC} was not read to its end in {SETTLE_S:.0f} s")
    return folder, covered_offsets(spans)


def covered_offsets(spans: list[tuple[int, int, int]]) -> int:
    """How many distinct (partition, offset) the spans cover, each counted once."""
    covered, reached = 0, (-1, -1)  # (partition, the last offset counted in it)
    for partition, first, last in sorted(spans):
        start = first if partition != reached[0] else max(first, reached[1] + 1)
        if last >= start:
            covered += last - start + 1
            reached = (partition, last)
    return covered


# -- the bundled cluster ----------------------------------------------------------------------


def _pipeline(room: Classroom) -> Path:
    if room.up_dir is None:
        raise LessonError(
            "this step acts on the analytics workers, so only on those `chirpstream up` runs"
        )
    return room.up_dir


def _bundled(room: Classroom) -> RunRecord:
    if room.record is None:
        raise LessonError(
            "this step stops a broker, so it acts only on the cluster `chirpstream up` started"
        )
    return room.record


def _all_running(room: Classroom) -> Path:
    """The cluster's data directory, once every node an earlier lesson stopped runs again."""
    data_dir = Path(_bundled(room).data_dir)
    _, record = controls.load(data_dir)
    for node in record.nodes:
        if controls.node_state(node) == "stopped":
            controls.act(data_dir, "restart", node.node_id, wait_s=RESTART_S)
        elif controls.node_state(node) == "paused":
            controls.act(data_dir, "resume", node.node_id)
    return data_dir


def _active_controller(room: Classroom) -> int | None:
    quorum = _quorum(room)
    return None if quorum is None else quorum.leader_id


def _quorum(room: Classroom) -> Any:
    """The controller quorum as its leader describes it (None if none answers)."""
    record = _bundled(room)
    voters = ",".join(n.controller_address for n in record.nodes if n.controller_address)
    probe = ClusterProbe(room.bootstrap, voters)
    try:
        view = probe.view()
        return (
            None
            if view is None or view.quorum is None or view.quorum.leader_id < 0
            else (view.quorum)
        )
    finally:
        probe.close()
