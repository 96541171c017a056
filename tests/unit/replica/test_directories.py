"""In a cluster the replica manager makes and deletes its replicas' directories itself as the
image changes (no controller touches a broker's disk): a dropped partition is renamed to its
``-delete`` name at once and removed in a worker thread, a new one is made in worker threads
and takes the role the image has once it exists, and at start any directory that is not one
of this node's replicas in the replayed image is set aside."""

from __future__ import annotations

import asyncio
import functools
import uuid
from pathlib import Path

from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    PartitionChangeRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from broker.metadata.snapshot import decode_snapshot, encode_snapshot
from broker.protocol.batch import validate_produced
from broker.replica.manager import ReplicaManager
from broker.replica.replica import Role
from broker.storage import LogConfig
from broker.storage.checkpoint import read_topic_id
from broker.storage.manager import LogManager
from tests.support.batches import make_batch

ME = 0
OTHER = 1
TOPIC_ID = uuid.UUID(int=11)
NEW_TOPIC_ID = uuid.UUID(int=12)
NOW_MS = 1_700_000_000_000


def with_topic(
    image: MetadataImage,
    topic_id: uuid.UUID,
    partitions: int,
    name: str = "t",
    replicas: tuple[int, ...] = (ME,),
) -> MetadataImage:
    return image.apply_all(
        [
            TopicRecord(name, topic_id),
            *(
                PartitionRecord(i, topic_id, replicas, replicas, replicas[0])
                for i in range(partitions)
            ),
        ]
    )


def run(coroutine_function):
    """A test of ``coroutine_function``, run on its own event loop."""

    @functools.wraps(coroutine_function)
    def sync(*args, **kwargs) -> None:
        asyncio.run(coroutine_function(*args, **kwargs))

    return sync


def cluster_manager(root: Path) -> ReplicaManager:
    return ReplicaManager(LogManager(root), ME, LogConfig(), owns_directories=True)


async def started(root: Path, image: MetadataImage) -> ReplicaManager:
    """A cluster node's manager over ``root`` that follows ``image``, its directories made."""
    manager = cluster_manager(root)
    manager.load(image, frozenset())
    manager.apply(MetadataImage(), image)
    await manager.finish_directory_work()
    return manager


def partition_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def produce(manager: ReplicaManager, topic: str, index: int) -> None:
    replica = manager.replica(topic, index)
    assert replica is not None
    batch = make_batch([b"v"])
    replica.append(batch, validate_produced(batch), NOW_MS)


@run
async def test_a_dropped_topic_is_renamed_at_once_and_removed_in_a_worker_thread(tmp_path):
    image = with_topic(MetadataImage(), TOPIC_ID, 2)
    manager = await started(tmp_path, image)
    assert partition_dirs(tmp_path) == ["t-0", "t-1"]
    produce(manager, "t", 0)

    removed = image.apply(RemoveTopicRecord(TOPIC_ID))
    manager.apply(image, removed)
    assert manager.replica("t", 0) is None and manager.replica("t", 1) is None
    renamed = partition_dirs(tmp_path)
    assert len(renamed) == 2 and all(name.endswith("-delete") for name in renamed), renamed

    await manager.finish_directory_work()
    assert partition_dirs(tmp_path) == []
    manager.close()


@run
async def test_a_partition_this_node_no_longer_holds_is_deleted(tmp_path):
    image = with_topic(MetadataImage(), TOPIC_ID, 2)
    manager = await started(tmp_path, image)

    moved = image.apply(
        PartitionChangeRecord(1, TOPIC_ID, replicas=(OTHER,), isr=(OTHER,), leader=OTHER)
    )
    manager.apply(image, moved)
    await manager.finish_directory_work()
    assert manager.replica("t", 1) is None
    assert partition_dirs(tmp_path) == ["t-0"]
    manager.close()


@run
async def test_a_topic_recreated_under_its_name_at_once_gets_a_fresh_directory(tmp_path):
    image = with_topic(MetadataImage(), TOPIC_ID, 1)
    manager = await started(tmp_path, image)
    produce(manager, "t", 0)

    removed = image.apply(RemoveTopicRecord(TOPIC_ID))
    again = with_topic(removed, NEW_TOPIC_ID, 1)
    manager.apply(image, removed)
    manager.apply(removed, again)  # before anything was removed from disk
    await manager.finish_directory_work()

    replica = manager.replica("t", 0)
    assert replica is not None and replica.log_end_offset == 0
    assert partition_dirs(tmp_path) == ["t-0"]
    assert read_topic_id(tmp_path / "t-0") == NEW_TOPIC_ID
    manager.close()


@run
async def test_a_crash_between_the_rename_and_the_removal_leaves_nothing_behind(tmp_path):
    image = with_topic(MetadataImage(), TOPIC_ID, 2)
    manager = await started(tmp_path, image)
    removed = image.apply(RemoveTopicRecord(TOPIC_ID))
    manager.apply(image, removed)
    manager.close()  # "crashes" before the worker thread removed anything
    assert all(name.endswith("-delete") for name in partition_dirs(tmp_path))

    restarted = await started(tmp_path, removed)
    assert partition_dirs(tmp_path) == []
    assert list(restarted.all_replicas()) == []
    restarted.close()


@run
async def test_at_start_directories_that_are_not_this_nodes_replicas_are_set_aside(tmp_path):
    # On disk: a topic deleted before the crash (never renamed), and a partition this node
    # held before the image moved it to another broker.
    before = with_topic(with_topic(MetadataImage(), TOPIC_ID, 2), NEW_TOPIC_ID, 1, name="gone")
    (await started(tmp_path, before)).close()

    image = with_topic(MetadataImage(), TOPIC_ID, 2).apply(
        PartitionChangeRecord(1, TOPIC_ID, replicas=(OTHER,), isr=(OTHER,), leader=OTHER)
    )
    manager = await started(tmp_path, image)
    assert [r.index for r in manager.all_replicas()] == [0]
    names = partition_dirs(tmp_path)
    assert "t-0" in names and "t-1" not in names and "gone-0" not in names
    assert sum(name.endswith("-stray") for name in names) == 2, names
    manager.close()


@run
async def test_a_big_new_topic_is_made_without_holding_up_the_event_loop(tmp_path):
    manager = await started(tmp_path, MetadataImage())
    big = with_topic(MetadataImage(), TOPIC_ID, 300, name="big")
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            await asyncio.sleep(0.005)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    before = ticks
    manager.apply(MetadataImage(), big)
    await manager.finish_directory_work()
    during = ticks - before
    running = False
    await ticking

    assert len(manager.replicas_of("big")) == 300
    assert all(r.role is Role.LEADER for r in manager.all_replicas())
    # Made in apply(), 300 directories hold the loop until they all exist (1.7 to 4 s here)
    # and the ticker never runs in between; made in the background, it runs between them.
    assert during >= 2, f"the event loop ran other work {during} times while they were made"
    manager.close()


@run
async def test_a_partition_changed_while_its_directory_is_made_takes_the_latest_role(tmp_path):
    manager = await started(tmp_path, MetadataImage())
    image = with_topic(MetadataImage(), TOPIC_ID, 2, replicas=(ME, OTHER))
    moved = image.apply(PartitionChangeRecord(0, TOPIC_ID, leader=OTHER))
    manager.apply(MetadataImage(), image)
    manager.apply(image, moved)
    await manager.finish_directory_work()

    follower, leader = manager.replica("t", 0), manager.replica("t", 1)
    assert follower is not None and follower.role is Role.FOLLOWER
    assert follower.leader_epoch == 1
    assert leader is not None and leader.role is Role.LEADER
    manager.close()


@run
async def test_a_topic_deleted_while_its_directories_are_made_leaves_nothing(tmp_path):
    manager = await started(tmp_path, MetadataImage())
    image = with_topic(MetadataImage(), TOPIC_ID, 3)
    removed = image.apply(RemoveTopicRecord(TOPIC_ID))
    manager.apply(MetadataImage(), image)
    manager.apply(image, removed)
    await manager.finish_directory_work()

    assert list(manager.all_replicas()) == []
    assert partition_dirs(tmp_path) == []
    manager.close()


@run
async def test_an_image_loaded_from_a_snapshot_jumps_this_nodes_replicas_to_it(tmp_path):
    # While this node was away the log moved on; a snapshot brings it there in one step.
    before = with_topic(MetadataImage(), TOPIC_ID, 1)
    before = with_topic(before, uuid.UUID(int=13), 1, name="u", replicas=(ME, OTHER))
    manager = await started(tmp_path, before)
    produce(manager, "t", 0)

    later = with_topic(MetadataImage(), NEW_TOPIC_ID, 1)  # "t" deleted and created again
    later = with_topic(later, uuid.UUID(int=13), 1, name="u", replicas=(OTHER,))
    later = with_topic(later, uuid.UUID(int=14), 2, name="w", replicas=(OTHER, ME))
    manager.apply(before, decode_snapshot(encode_snapshot(later)))
    await manager.finish_directory_work()

    assert partition_dirs(tmp_path) == ["t-0", "w-0", "w-1"]
    assert read_topic_id(tmp_path / "t-0") == NEW_TOPIC_ID
    assert manager.replica("t", 0).log_end_offset == 0
    assert manager.replica("u", 0) is None
    assert {r.role for r in manager.replicas_of("w").values()} == {Role.FOLLOWER}
    manager.close()


@run
async def test_a_directory_that_cannot_be_made_is_logged_and_the_rest_goes_on(tmp_path, caplog):
    manager = await started(tmp_path, MetadataImage())
    (tmp_path / "t-0").write_text("not a partition directory")  # in the way
    image = with_topic(MetadataImage(), TOPIC_ID, 1)
    image = with_topic(image, NEW_TOPIC_ID, 1, name="u")
    manager.apply(MetadataImage(), image)
    await manager.finish_directory_work()

    assert "cannot make the directories of topic 't'" in caplog.text
    assert manager.replica("t", 0) is None
    assert manager.replica("u", 0) is not None
    assert (tmp_path / "t-0").read_text() == "not a partition directory"
    manager.close()
