"""The ten lessons, as data: the page draws each with the same code.

Each follows a step of the README's classroom walkthrough (``readme_step``; the walkthrough's
commands do the same from a terminal): a paragraph, a question the student answers before the
button shows what happens, the button's step (``dashboard.lessons.steps``) and the page to
watch while it happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chirpstream.settings import ANALYTICS_GROUP
from dashboard.lessons import seeded, steps

KEY = "alice"  # lesson 2 asks where this key lands


@dataclass(frozen=True)
class Lesson:
    number: int
    title: str
    readme_step: int
    paragraph: str
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    why: str  # shown with the result, whatever was picked
    button: str
    step: Callable[[steps.Classroom], steps.Outcome]
    watch: str  # the page's title
    watch_page: str  # its file in dashboard/views/, without .py
    watch_query: dict[str, str]  # the query parameters that pick what it shows
    # What its button acts on besides the cluster: "brokers" (the bundled cluster's, through
    # its run file) or "workers" (the analytics workers `chirpstream up` runs), or nothing.
    needs: str | None = None


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        1,
        "Topics and partitions",
        1,
        "A topic is a set of append-only logs, its partitions. Each partition is an ordered"
        " sequence of records numbered by offset, and is the unit Kafka spreads over brokers"
        f" and consumers. This lesson creates the topic `{seeded.TOPIC}` with"
        f" {seeded.PARTITIONS} partitions.",
        f"How many logs will `{seeded.TOPIC}` have?",
        (
            "One, shared by all partitions",
            f"{seeded.PARTITIONS}, one per partition",
            "One per broker",
        ),
        1,
        "Each partition is its own log, with its own offsets starting at 0 and its own leader.",
        f"Create `{seeded.TOPIC}`",
        steps.create_topic,
        "Partitions",
        "partitions",
        {"topic": seeded.TOPIC},
    ),
    Lesson(
        2,
        "Keys and ordering",
        2,
        "A record's partition is murmur2 of its key modulo the partition count, as the Java"
        " client computes it: the same key always lands on the same partition, so its"
        " records stay in order. Order holds within a partition, not across them. This"
        " lesson sends the README's six messages keyed by alice, bob and carol.",
        f"Where do {KEY}'s three messages land?",
        (*(f"All on partition {p}" for p in range(seeded.PARTITIONS)), "Spread over them"),
        seeded.predicted_partition(KEY),
        f'murmur2("{KEY}") & 0x7fffffff % {seeded.PARTITIONS} ='
        f" {seeded.predicted_partition(KEY)}, every time: the key's journey page shows each"
        " step of that sum.",
        "Send the six messages",
        steps.produce_keys,
        "A key's journey",
        "keys",
        {"topic": seeded.TOPIC},
    ),
    Lesson(
        3,
        "Consumer groups",
        3,
        "Consumers sharing a group id split a topic's partitions: each partition has exactly"
        " one owner in the group. The analytics workers are such a group on `tweets` (6"
        " partitions). This lesson adds one worker (`chirpstream workers --add`) and watches"
        " the group rebalance.",
        "One more worker joins the analytics group. Then:",
        (
            "Every worker reads every partition",
            "The partitions are spread over one member more",
            "The new worker idles until another leaves",
        ),
        1,
        "The group rebalances: some partitions move to the newcomer, and every partition"
        " still has exactly one owner. With more members than partitions the extra ones"
        " would idle.",
        "Add a worker",
        steps.add_worker,
        "Consumer groups",
        "groups",
        {"group": ANALYTICS_GROUP},
        needs="workers",
    ),
    Lesson(
        4,
        "Lag",
        4,
        "A group's lag on a partition is the high watermark minus its committed offset: how"
        f" far it is behind. This lesson has `{seeded.GROUP}` catch up, then sends"
        f" {seeded.BURST} records that nobody reads.",
        f"What is `{seeded.GROUP}`'s total lag afterwards?",
        ("0: the records were delivered", f"{seeded.BURST}", f"{seeded.BURST} per partition"),
        1,
        "Every record produced and not yet committed by the group counts once, on its own"
        " partition; lag drains only when a member reads and commits.",
        f"Send {seeded.BURST} records",
        steps.build_lag,
        "Consumer groups",
        "groups",
        {"group": seeded.GROUP},
    ),
    Lesson(
        5,
        "Replay",
        5,
        "Kafka keeps the log after it is read: a group's position is only a committed"
        " offset, and it can be moved back (`chirpstream groups --reset-offsets`, refused"
        " while the group has members).",
        f"After a reset of `{seeded.GROUP}` to the earliest offsets, its next consumer reads:",
        (
            "Nothing: those records were consumed",
            "Every record the log still holds, again",
            "Only the records sent since",
        ),
        1,
        "Reading deletes nothing: the lag jumps back to all the records held, and they are"
        " read again in the same order.",
        "Reset to earliest",
        steps.reset_offsets,
        "Consumer groups",
        "groups",
        {"group": seeded.GROUP},
    ),
    Lesson(
        6,
        "Retention",
        7,
        "Retention deletes whole segments older than `retention.ms` from the start of each"
        f" partition. This lesson sets `retention.ms=1000` on `{seeded.TOPIC}` until its"
        " segments are gone, then sets it back.",
        "When the old records are deleted, what happens to the offsets?",
        (
            "They start again at 0",
            "The log start offset moves up; offsets are never reused",
            "The high watermark goes down",
        ),
        1,
        "The log start jumps to the high watermark and new records go on from there; a"
        " consumer below the log start restarts from `auto.offset.reset`.",
        "Set retention.ms=1000",
        steps.retention,
        "Partitions",
        "partitions",
        {"topic": seeded.TOPIC},
    ),
    Lesson(
        7,
        "Replication and the ISR",
        8,
        "`tweets` has three replicas per partition: a leader and two followers copying it."
        " The ISR (in-sync replicas) are those caught up; with `min.insync.replicas=2` and"
        " `acks=all` a write is acknowledged once two hold it. This lesson kills a follower"
        " of `tweets-0`.",
        "A follower of tweets-0 dies. The producers (acks=all):",
        (
            "Stop: a replica is missing",
            "Carry on: the ISR shrinks to two, still enough",
            "Carry on, with acks=1",
        ),
        1,
        "The controller fences the dead broker and drops it from every ISR; two replicas"
        " remain, so acks=all writes carry on. The Cluster page shows its replicas offline.",
        "Kill a follower of tweets-0",
        steps.kill_follower,
        "Cluster",
        "cluster",
        {"topic": "tweets"},
        needs="brokers",
    ),
    Lesson(
        8,
        "Broker failover",
        9,
        "When a partition's leader dies, the controller elects another replica from the ISR"
        " in a new leader epoch, and clients move to it. This lesson first restarts any"
        " broker an earlier lesson stopped, then kills the leader of `tweets-0`.",
        "The leader of tweets-0 dies. What happens to tweets-0?",
        (
            "It is offline until that broker returns",
            "A follower from the ISR becomes leader",
            "Any broker becomes leader",
        ),
        1,
        "Only an in-sync replica can be elected (no record acknowledged is lost); the"
        " Cluster page's timeline lists the new leader and epoch.",
        "Kill the leader of tweets-0",
        steps.kill_leader,
        "Cluster",
        "cluster",
        {"topic": "tweets"},
        needs="brokers",
    ),
    Lesson(
        9,
        "The controller",
        10,
        "The active controller is the leader of the Raft quorum of controllers that keeps"
        " the cluster's metadata log; it fences brokers and elects leaders. This lesson kills"
        " it.",
        "The active controller dies. Then:",
        (
            "No leader can be elected any more",
            "The other voters elect a new controller",
            "The brokers elect one among themselves by ZooKeeper",
        ),
        1,
        "A majority of the voters (2 of 3) is left, so they elect a new quorum leader in a"
        " higher epoch within seconds; with a single controller nothing could be elected.",
        "Kill the active controller",
        steps.kill_controller,
        "Cluster",
        "cluster",
        {"topic": "tweets"},
        needs="brokers",
    ),
    Lesson(
        10,
        "Exactly-once results",
        6,
        "A worker publishes each run's result, and commits its offsets only once the result is"
        " acknowledged. This lesson makes one worker die between the two"
        " (`chirpstream workers --crash-before-commit`): its partitions go to another member"
        " when its session times out (10 s under `chirpstream up`), which reads the uncommitted"
        " range again.",
        "The range is read twice. The analytics totals:",
        (
            "Count those tweets twice",
            "Count each tweet once",
            "Lose those tweets",
        ),
        1,
        "At-least-once reading, exact results: the next owner cuts the same runs and"
        " publishes the same results, and the fold keeps one result per source range"
        " (partition, first offset), so a repeat is dropped.",
        "Crash a worker before its commit",
        steps.crash_before_commit,
        "Crash before commit",
        "replay",
        {},
        needs="workers",
    ),
)


def lesson(number: int) -> Lesson:
    return LESSONS[number - 1]
