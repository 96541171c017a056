import pytest

from broker.storage import PartitionLog, StorageError
from tests.unit.storage.record_batches import make_batch, produce


@pytest.fixture
def log_with_epochs(new_log):
    """Epoch 1 from offset 0, 3 from 10, 5 from 20; log end 30."""
    log = new_log()
    for epoch in (1, 3, 5):
        produce(log, make_batch(10), epoch=epoch)
    assert log.leader_epochs == [(1, 0), (3, 10), (5, 20)]
    return log


@pytest.mark.parametrize(
    ("requested", "answer"),
    [
        (5, (5, 30)),  # the latest epoch ends at the log end
        (4, (3, 20)),  # unknown epoch: the largest one below, ending where 5 starts
        (3, (3, 20)),
        (2, (1, 10)),
        (1, (1, 10)),
        (0, (0, 0)),  # below every known epoch: Kafka answers it with the first start offset
        (6, (-1, -1)),  # above every known epoch
        (-1, (-1, -1)),
    ],
)
def test_end_offset_for_epoch_follows_kafka(log_with_epochs, requested, answer):
    assert log_with_epochs.end_offset_for_epoch(requested) == answer


def test_no_epochs_means_undefined(new_log):
    assert new_log().end_offset_for_epoch(0) == (-1, -1)


def test_epochs_survive_a_reopen(log_with_epochs):
    path = log_with_epochs.directory / "leader-epoch-checkpoint"
    assert path.read_text() == "0\n3\n1 0\n3 10\n5 20\n"
    log_with_epochs.close()
    reopened = PartitionLog.open(
        log_with_epochs.directory, log_with_epochs.config, recovery_point=0
    )
    assert reopened.leader_epochs == [(1, 0), (3, 10), (5, 20)]
    assert reopened.end_offset_for_epoch(4) == (3, 20)
    reopened.close()


def test_assign_epoch_follows_kafkas_rules(log_with_epochs):
    log = log_with_epochs
    log.assign_epoch(5, 25)  # the latest epoch, later start: nothing to do
    assert log.leader_epochs == [(1, 0), (3, 10), (5, 20)]
    log.assign_epoch(7, 30)
    assert log.leader_epochs[-1] == (7, 30)
    log.assign_epoch(4, 15)  # conflicting entries (epoch >= 4 or start >= 15) go
    assert log.leader_epochs == [(1, 0), (3, 10), (4, 15)]
    with pytest.raises(ValueError):
        log.assign_epoch(-1, 0)


def test_an_epoch_starting_at_the_log_end_is_dropped_on_reopen(log_with_epochs):
    """Kafka truncates the cache to the log end on load; the next leader assigns it anew."""
    log_with_epochs.assign_epoch(8, 30)
    log_with_epochs.close()
    reopened = PartitionLog.open(
        log_with_epochs.directory, log_with_epochs.config, recovery_point=0
    )
    assert reopened.leader_epochs == [(1, 0), (3, 10), (5, 20)]
    reopened.close()


def test_advancing_the_log_start_trims_the_epochs(log_with_epochs):
    log_with_epochs.advance_log_start(15)
    assert log_with_epochs.leader_epochs == [(3, 15), (5, 20)]
    log_with_epochs.advance_log_start(20)
    assert log_with_epochs.leader_epochs == [(5, 20)]


def test_a_malformed_epoch_checkpoint_is_a_storage_error(log_with_epochs):
    log_with_epochs.close()
    (log_with_epochs.directory / "leader-epoch-checkpoint").write_text("0\n2\n1 0\n")
    with pytest.raises(StorageError, match="leader-epoch-checkpoint promises 2 entries"):
        PartitionLog.open(log_with_epochs.directory, log_with_epochs.config, recovery_point=0)
