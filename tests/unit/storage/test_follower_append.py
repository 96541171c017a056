"""A follower stores the leader's batches byte for byte: the leader's offsets and epochs kept,
its leader-epoch cache and producer state rebuilt from them, with the leader path's
all-or-nothing writes and recovery."""

import shutil

import pytest

from broker.protocol.batch import validate_replicated
from broker.protocol.errors import CorruptRecord
from broker.protocol.records import seal_batch
from broker.storage import LogConfig, PartitionLog, StorageError
from broker.storage.errors import DuplicateBatch
from tests.unit.storage.record_batches import make_batch, produce, read_all

PRODUCER = 7


def idempotent(sequence: int, count: int = 1) -> bytes:
    return seal_batch(
        b"i" * (20 * count), count=count, timestamp=1_000, producer_id=PRODUCER,
        producer_epoch=0, base_sequence=sequence,
    )  # fmt: skip


def replicate(leader: PartitionLog, follower: PartitionLog, now_ms: int = 1_000) -> None:
    """Copy what ``follower`` lacks from ``leader``, as a replica fetch would."""
    while (
        piece := leader.read(follower.log_end_offset, 1 << 20, leader.log_end_offset)
    ) is not None:
        data = piece.read_bytes()
        follower.append_as_follower(data, validate_replicated(data), now_ms)


@pytest.fixture
def leader_and_follower(new_log):
    leader = new_log(topic="t", partition=0)
    follower = new_log(topic="t", partition=1)  # another directory; the log is what counts
    produce(leader, make_batch(3), epoch=3)
    produce(leader, idempotent(0), idempotent(1, count=2), epoch=3)
    produce(leader, make_batch(1), idempotent(3), epoch=5)
    return leader, follower


def test_batches_are_stored_byte_for_byte_with_the_leaders_offsets_and_epochs(
    leader_and_follower,
):
    leader, follower = leader_and_follower
    replicate(leader, follower)
    assert read_all(follower) == read_all(leader)
    assert follower.log_end_offset == leader.log_end_offset == 8
    assert follower.leader_epochs == leader.leader_epochs == [(3, 0), (5, 6)]


def test_a_retried_batch_is_a_duplicate_at_its_original_offsets_on_the_follower(
    leader_and_follower,
):
    leader, follower = leader_and_follower
    replicate(leader, follower)
    for retried, offsets in ((idempotent(1, count=2), (4, 5)), (idempotent(3), (7, 7))):
        with pytest.raises(DuplicateBatch) as raised:
            produce(follower, retried, epoch=6)  # the follower, leading after a failover
        assert (raised.value.base_offset, raised.value.last_offset) == offsets
    assert produce(follower, idempotent(4), epoch=6) == 8


def test_the_state_and_epochs_survive_an_unclean_reopen(leader_and_follower, tmp_path):
    leader, follower = leader_and_follower
    replicate(leader, follower)
    crashed = tmp_path / "crashed" / follower.directory.name  # as a crash leaves the files
    shutil.copytree(follower.directory, crashed)
    assert not list(crashed.glob("*.snapshot"))  # the state is rebuilt from the batches
    again = PartitionLog.open(crashed, LogConfig(), recovery_point=0)
    try:
        assert read_all(again) == read_all(leader)
        assert again.leader_epochs == [(3, 0), (5, 6)]
        with pytest.raises(DuplicateBatch):
            produce(again, idempotent(3), epoch=6)
    finally:
        again.close()


def test_batches_that_do_not_follow_the_log_end_are_refused_whole(leader_and_follower):
    leader, follower = leader_and_follower
    data = read_all(leader)
    first, second, third = validate_replicated(data)[:3]
    with_a_gap = data[: first.size] + data[third.position : third.position + third.size]
    with pytest.raises(StorageError, match="starts at offset 4, expected 3"):
        follower.append_as_follower(with_a_gap, validate_replicated(with_a_gap), 1_000)
    assert (follower.log_end_offset, read_all(follower), follower.leader_epochs) == (0, b"", [])
    later = data[second.position :]
    with pytest.raises(StorageError, match="starts at offset 3, expected 0"):
        follower.append_as_follower(later, validate_replicated(later), 1_000)
    replicate(leader, follower)
    with pytest.raises(StorageError, match="starts at offset 0, expected 8"):
        follower.append_as_follower(data, validate_replicated(data), 1_000)
    assert read_all(follower) == data


def test_a_replicated_batch_that_fails_its_crc_is_refused(leader_and_follower):
    leader, _ = leader_and_follower
    data = bytearray(read_all(leader))
    data[-1] ^= 0xFF
    with pytest.raises(CorruptRecord, match="CRC"):
        validate_replicated(data)


def test_a_cut_tail_batch_is_left_out(leader_and_follower):
    leader, follower = leader_and_follower
    data = read_all(leader)
    headers = validate_replicated(data[:-5])
    assert [h.base_offset for h in headers] == [0, 3, 4, 6]  # the last batch, 7, is cut
    follower.append_as_follower(data[:-5], headers, 1_000)
    assert follower.log_end_offset == 7


def test_follower_appends_roll_segments_as_the_leader_does(new_log):
    config = LogConfig(segment_bytes=300)
    leader, follower = new_log(config, "t", 0), new_log(config, "t", 1)
    for _ in range(6):
        produce(leader, make_batch(2, record_bytes=50), epoch=1)
    replicate(leader, follower)
    assert follower.segment_count == leader.segment_count > 1
    assert read_all(follower) == read_all(leader)


def test_truncating_at_the_log_end_drops_an_epoch_never_written_in(new_log):
    """An old leader that began epoch 4 but wrote nothing in it must forget epoch 4, or its
    next fetch would claim data of epoch 4 that its new leader never had (KIP-279)."""
    log = new_log()
    produce(log, make_batch(2), epoch=3)
    log.assign_epoch(4, 2)  # became leader at offset 2
    log.truncate_to(2)
    assert log.leader_epochs == [(3, 0)]
    assert log.log_end_offset == 2


def test_a_log_emptied_to_start_at_an_offset_takes_the_leaders_batches_from_there(
    leader_and_follower, tmp_path
):
    leader, follower = leader_and_follower
    replicate(leader, follower)
    follower.truncate_fully_and_start_at(6)
    assert (follower.log_start_offset, follower.log_end_offset, follower.size_bytes) == (6, 6, 0)
    assert follower.leader_epochs == [] and not follower.producer_state.producers
    names = sorted(path.name for path in follower.directory.glob("*.log"))
    assert names == ["00000000000000000006.log"]
    replicate(leader, follower)
    assert read_all(follower) == leader.read(6, 1 << 20, 8).read_bytes()
    assert follower.leader_epochs == [(5, 6)]
    crashed = tmp_path / "crashed" / follower.directory.name
    shutil.copytree(follower.directory, crashed)
    again = PartitionLog.open(crashed, LogConfig(), recovery_point=0, log_start_offset=6)
    try:
        assert (again.log_start_offset, again.log_end_offset) == (6, 8)
        with pytest.raises(DuplicateBatch):
            produce(again, idempotent(3), epoch=6)
    finally:
        again.close()


def test_a_log_emptied_to_start_where_its_first_segment_does_starts_empty(
    leader_and_follower,
):
    leader, follower = leader_and_follower
    replicate(leader, follower)
    follower.truncate_fully_and_start_at(0)  # the same file name as the old first segment
    assert (follower.log_start_offset, follower.log_end_offset, read_all(follower)) == (0, 0, b"")
    replicate(leader, follower)
    assert read_all(follower) == read_all(leader)
