import uuid

import pytest

from broker.storage import StorageError
from broker.storage.checkpoint import (
    read_epochs,
    read_offsets,
    read_topic_id,
    topic_id_from_str,
    topic_id_to_str,
    write_epochs,
    write_offsets,
    write_topic_id,
)


def test_offset_checkpoint_is_kafkas_text_format(tmp_path):
    path = tmp_path / "replication-offset-checkpoint"
    write_offsets(path, {("tweets", 0): 42, ("tweet-stats", 11): 7})
    assert path.read_text() == "0\n2\ntweets 0 42\ntweet-stats 11 7\n"
    assert read_offsets(path) == {("tweets", 0): 42, ("tweet-stats", 11): 7}
    assert [p.name for p in tmp_path.iterdir()] == ["replication-offset-checkpoint"]


def test_an_empty_or_missing_checkpoint_holds_nothing(tmp_path):
    path = tmp_path / "recovery-point-offset-checkpoint"
    assert read_offsets(path) == {}
    write_offsets(path, {})
    assert path.read_text() == "0\n0\n"
    assert read_offsets(path) == {}


def test_a_rewrite_replaces_the_whole_file(tmp_path):
    path = tmp_path / "log-start-offset-checkpoint"
    write_offsets(path, {("a", 0): 1, ("a", 1): 2})
    write_offsets(path, {("a", 0): 5})
    assert read_offsets(path) == {("a", 0): 5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "malformed"),
        ("1\n0\n", "malformed"),
        ("0\nx\n", "malformed"),
        ("0\n2\ntweets 0 1\n", "promises 2 entries but holds 1"),
        ("0\n1\ntweets 0\n", "line 3 is not 'topic partition offset'"),
        ("0\n1\ntweets zero 1\n", "line 3"),
        ("\xff", "cannot read"),
    ],
)
def test_a_malformed_checkpoint_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "replication-offset-checkpoint"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(StorageError, match=message) as caught:
        read_offsets(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_leader_epoch_checkpoint(tmp_path):
    path = tmp_path / "leader-epoch-checkpoint"
    write_epochs(path, [(0, 0), (4, 120)])
    assert path.read_text() == "0\n2\n0 0\n4 120\n"
    assert read_epochs(path) == [(0, 0), (4, 120)]


def test_topic_id_is_written_as_kafka_writes_it(tmp_path):
    topic_id = uuid.UUID("00000000-0000-0000-0000-000000000001")
    assert topic_id_to_str(topic_id) == "AAAAAAAAAAAAAAAAAAAAAQ"
    write_topic_id(tmp_path, topic_id)
    assert (tmp_path / "partition.metadata").read_text() == (
        "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n"
    )
    assert read_topic_id(tmp_path) == topic_id
    assert topic_id_from_str(str(topic_id)) == topic_id


def test_a_bad_partition_metadata_is_a_storage_error(tmp_path):
    (tmp_path / "partition.metadata").write_text("version: 1\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n")
    with pytest.raises(StorageError, match="unsupported version"):
        read_topic_id(tmp_path)
    (tmp_path / "partition.metadata").write_text("version: 0\n")
    with pytest.raises(StorageError, match=r"partition\.metadata is malformed"):
        read_topic_id(tmp_path)
    (tmp_path / "partition.metadata").unlink()
    with pytest.raises(StorageError, match=r"partition\.metadata is missing"):
        read_topic_id(tmp_path)
