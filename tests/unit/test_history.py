"""The history checker on small hand-made histories: each anomaly is found, a clean one passes."""

import pytest

from tests.support.history import History, Position, Read, Reorder


def history(*acks: tuple[str, str, int, int]) -> History:
    """Values acked in this order: ``(producer, value, partition, offset)``."""
    made = History()
    for producer, value, _, _ in acks:
        made.invoke(producer, value)
    for _, value, partition, offset in acks:
        made.ok(value, partition, offset)
    return made


CLEAN = [("a", "a0", 0, 0), ("b", "b0", 0, 1), ("a", "a1", 1, 0), ("a", "a2", 0, 2)]
CLEAN_READS = [Read(0, 0, "a0"), Read(0, 1, "b0"), Read(1, 0, "a1"), Read(0, 2, "a2")]


def test_a_clean_history_passes_and_counts():
    made = history(*CLEAN)
    made.invoke("b", "b1")
    made.unknown("b1", "timed out")
    made.invoke("b", "b2")
    made.fail("b2", "rejected")
    report = made.check([*CLEAN_READS, Read(0, 3, "b1")])
    assert report.valid, report.details()
    assert (report.acked, report.unknown, report.failed, report.read) == (4, 1, 1, 5)
    assert report.unknown_read == 1
    assert report.summary().startswith("acked=4 read=5 unknown=1 (read 1) failed=1 lost=0")


def test_reading_one_position_twice_is_not_a_duplicate():
    assert history(*CLEAN).check(CLEAN_READS + CLEAN_READS).valid


def test_an_acked_value_never_read_is_lost():
    report = history(*CLEAN).check([r for r in CLEAN_READS if r.value != "a2"])
    assert report.lost == {"a2": "acked at Position(partition=0, offset=2), never read"}
    assert not report.valid


def test_an_acked_value_read_only_elsewhere_is_lost():
    reads = [*CLEAN_READS[:3], Read(0, 3, "a2"), Read(0, 2, "x")]
    report = history(*CLEAN).check(reads)
    assert list(report.lost) == ["a2"]
    assert report.unexpected == {"x": Position(0, 2)}


def test_an_acked_value_at_two_offsets_is_duplicated():
    report = history(*CLEAN).check([*CLEAN_READS, Read(0, 3, "b0")])
    assert report.duplicated == {"b0": [Position(0, 1), Position(0, 3)]}
    assert report.lost == {}


def test_an_unknown_value_may_appear_once_but_not_twice():
    made = history(*CLEAN)
    made.invoke("c", "c0")  # never completed: counts as unknown
    assert made.check([*CLEAN_READS, Read(1, 1, "c0")]).valid
    report = made.check([*CLEAN_READS, Read(1, 1, "c0"), Read(1, 2, "c0")])
    assert report.unknown_twice == {"c0": [Position(1, 1), Position(1, 2)]}
    assert report.duplicated == {}


def test_two_values_at_one_offset_are_inconsistent():
    made = history(*CLEAN)
    made.invoke("c", "c0")
    made.unknown("c0", "timed out")
    report = made.check([*CLEAN_READS, Read(0, 1, "c0")])
    assert report.inconsistent == {Position(0, 1): ["b0", "c0"]}


def test_a_later_ack_at_a_lower_offset_is_out_of_order():
    made = history(("a", "a0", 0, 5), ("b", "b0", 0, 3), ("a", "a1", 0, 4), ("a", "a2", 1, 0))
    reads = [Read(0, o, v) for o, v in [(5, "a0"), (3, "b0"), (4, "a1")]]
    reads += [Read(0, 0, "z0"), Read(0, 1, "z1"), Read(0, 2, "z2"), Read(1, 0, "a2")]
    for value in ("z0", "z1", "z2"):
        made.invoke("z", value)
    report = made.check(reads)
    # b0 below a0 is fine: another producer. a2 is another partition.
    assert report.out_of_order == [Reorder("a", 0, "a0", 5, "a1", 4)]
    assert report.lost == {} and report.gaps == {}


def test_a_failed_value_that_was_read_is_reported():
    made = history(*CLEAN)
    made.invoke("c", "c0")
    made.fail("c0", "NOT_ENOUGH_REPLICAS")
    report = made.check([*CLEAN_READS, Read(0, 3, "c0")])
    assert report.failed_read == {"c0": Position(0, 3)}


def test_offsets_not_read_below_the_highest_are_gaps():
    made = history(*CLEAN[:2], ("a", "a2", 0, 4))
    report = made.check([Read(0, 0, "a0"), Read(0, 1, "b0"), Read(0, 4, "a2")])
    assert report.gaps == {0: [2, 3]}
    assert report.lost == {}


def test_values_must_be_unique_and_completed_once():
    made = history(*CLEAN)
    with pytest.raises(ValueError, match="produced twice"):
        made.invoke("a", "a0")
    with pytest.raises(ValueError, match="completed twice"):
        made.ok("a0", 0, 0)


def test_details_name_the_first_anomalies():
    report = history(*CLEAN).check(CLEAN_READS[:3])
    assert "lost: [('a2', 'acked at Position(partition=0, offset=2), never read')]" in (
        report.details()
    )
