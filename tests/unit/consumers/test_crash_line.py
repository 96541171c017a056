"""The line a worker prints as it crashes before committing, and reading it back."""

from __future__ import annotations

from consumers.crash import EXIT_CODE, UncommittedRange, crash_line, parse_crash_line

AT_MS = 1_796_688_123_456


def test_the_crash_line_reads_back_as_the_ranges_it_names():
    ranges = [UncommittedRange("tweets", 0, 120, 455), UncommittedRange("tweets", 3, 88, 301)]
    line = crash_line("worker 2", "analytics-2-4242", ranges, AT_MS)
    assert "tweets[0] 120..455, tweets[3] 88..301" in line
    assert f"exiting {EXIT_CODE}" in line
    crash = parse_crash_line(f"2026-12-08 00:01:02 {line}")
    assert crash is not None
    assert (crash.name, crash.client_id, crash.at_ms) == ("worker 2", "analytics-2-4242", AT_MS)
    assert crash.ranges == tuple(ranges)
    assert [r.records for r in crash.ranges] == [336, 214]


def test_a_crash_with_nothing_uncommitted_names_no_range():
    crash = parse_crash_line(crash_line("worker 0", "analytics-0-1", [], AT_MS))
    assert crash is not None and crash.ranges == ()


def test_other_lines_are_not_crashes():
    assert parse_crash_line("worker 0: partitions [0, 3]") is None
    assert parse_crash_line("analytics: worker 0 exited with 86; the others take over") is None
