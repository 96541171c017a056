from __future__ import annotations

import pytest

from broker.groups.codec import GroupKey, GroupValue, MemberValue, OffsetKey, OffsetValue
from broker.groups.store import OffsetStore, StoreError, java_string_hashcode
from broker.protocol.batch import validate_produced
from broker.protocol.records import build_batch, iter_records
from broker.storage import LogConfig
from tests.unit.groups.support import START_MS, make_partitions, reopen_partitions


# Expected values printed by Java 17's String.hashCode().
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 97),
        ("hello", 99162322),
        ("analytics", -1693017210),
        ("polygenelubricants", -(2**31)),  # Integer.MIN_VALUE
        ("é", 233),
        ("\U0001f600", 1772899),  # a surrogate pair: two UTF-16 code units
        ("tweet-stats-workers", -1014836437),
    ],
)
def test_java_string_hashcode(text, expected):
    assert java_string_hashcode(text) == expected


def test_partition_for_is_kafkas(partitions):
    store = OffsetStore(partitions, lambda: START_MS)
    assert store.partition_for("") == 0
    assert store.partition_for("hello") == 99162322 % 3
    assert store.partition_for("analytics") == (-1693017210 & 0x7FFFFFFF) % 3 == 2
    # Integer.MIN_VALUE & 0x7fffffff is 0: no negative partition, unlike Math.abs
    assert store.partition_for("polygenelubricants") == 0
    # Kafka's default of 50 partitions; expected values computed in Java
    fifty = OffsetStore((partitions * 17)[:50], lambda: START_MS)
    assert [fifty.partition_for(g) for g in ("a", "analytics", "tweet-stats-workers")] == [
        47,
        38,
        11,
    ]


def test_a_store_needs_partitions():
    with pytest.raises(ValueError, match="at least one partition"):
        OffsetStore([], lambda: START_MS)


def test_write_appends_one_kafka_batch_to_the_groups_partition(partitions):
    store = OffsetStore(partitions, lambda: START_MS)
    key = OffsetKey("analytics", "tweets", 0)
    value = OffsetValue(10, 0, "", START_MS)
    store.write("analytics", [(key, value), (GroupKey("analytics"), None)])
    target = partitions[store.partition_for("analytics")]
    assert target.high_watermark == 2
    assert [p.high_watermark for p in partitions if p is not target] == [0, 0]
    data = target.log.read(0, 1 << 20, 2).read_bytes()
    assert len(validate_produced(data)) == 1
    records = list(iter_records(data))
    key_bytes = bytes.fromhex("0001 0009") + b"analytics" + bytes.fromhex("0006") + b"tweets"
    key_bytes += bytes(4)
    value_bytes = bytes.fromhex("0003 000000000000000a 00000000 0000") + START_MS.to_bytes(8, "big")
    group_key = bytes.fromhex("0002 0009") + b"analytics"
    expected = build_batch([(key_bytes, value_bytes), (group_key, None)], START_MS)
    assert [(r.key, r.value) for r in records] == [(r.key, r.value) for r in iter_records(expected)]
    assert {r.timestamp for r in records} == {START_MS}


def test_replay_keeps_the_newest_value_per_key_and_honours_tombstones(partitions):
    store = OffsetStore(partitions, lambda: START_MS)
    member = MemberValue("m", None, "c", "/h", 1, 2, b"s", b"a")
    group = GroupValue("consumer", 3, "range", "m", START_MS, (member,))
    store.write("g", [(OffsetKey("g", "t", 0), OffsetValue(1, -1, "", 1))])
    store.write("g", [(OffsetKey("g", "t", 0), OffsetValue(5, 2, "x", 2))])
    store.write("g", [(OffsetKey("g", "t", 1), OffsetValue(7, -1, "", 3)), (GroupKey("g"), group)])
    store.write("h", [(OffsetKey("h", "t", 0), OffsetValue(9, -1, "", 4)), (GroupKey("h"), group)])
    store.write("h", [(OffsetKey("h", "t", 0), None), (GroupKey("h"), None)])
    state = store.replay()
    assert state.offsets == {
        OffsetKey("g", "t", 0): OffsetValue(5, 2, "x", 2),
        OffsetKey("g", "t", 1): OffsetValue(7, -1, "", 3),
    }
    assert state.groups == {"g": group}


def test_replay_reads_across_segments_and_from_reopened_logs(tmp_path):
    root = tmp_path / "small"
    partitions = make_partitions(root, 2, LogConfig(segment_bytes=300))
    store = OffsetStore(partitions, lambda: START_MS)
    for offset in range(60):
        store.write("g", [(OffsetKey("g", "t", offset % 7), OffsetValue(offset, -1, "", offset))])
    assert partitions[store.partition_for("g")].log.segment_count > 5
    expected = {
        OffsetKey("g", "t", p): OffsetValue(o, -1, "", o) for o in range(53, 60) for p in [o % 7]
    }
    assert store.replay().offsets == expected
    # no close, no flush: as after a SIGKILL, the records are in the OS and are read back
    reopened = reopen_partitions(root, 2)
    assert OffsetStore(reopened, lambda: START_MS).replay().offsets == expected
    for partition in partitions + reopened:
        partition.log.close()


def test_replay_skips_records_it_cannot_read(partitions, caplog):
    store = OffsetStore(partitions, lambda: START_MS)
    target = partitions[store.partition_for("g")]
    junk = build_batch([(None, b"x"), (b"\x00\x09junk", b"y")], START_MS)
    target.append(junk, validate_produced(junk), START_MS)
    store.write("g", [(OffsetKey("g", "t", 0), OffsetValue(1, -1, "", 1))])
    assert store.replay().offsets == {OffsetKey("g", "t", 0): OffsetValue(1, -1, "", 1)}
    assert "offset 0: skipped a record that is not a group record: record has no key" in caplog.text
    assert "offset 1: skipped" in caplog.text and "key version 9" in caplog.text


def test_a_failed_append_raises_store_error(partitions, monkeypatch):
    store = OffsetStore(partitions, lambda: START_MS)
    target = partitions[store.partition_for("g")]

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(target.log, "append", broken)
    with pytest.raises(StoreError, match="No space left"):
        store.write("g", [(GroupKey("g"), None)])
