"""The replay source: the live parser for every line, recorded pacing, loops, prompt close."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from pathlib import Path

import pytest

from chirpstream.tweets import parse_line
from ingest import replay
from ingest.replay import ReplaySource
from ingest.simulate import main as simulate_main
from ingest.simulate import simulated_envelopes
from tests.unit.ingest.test_simulate import START_MS, FakeClock

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample_tweets.jsonl"
# The command that made the shipped sample (data/README.md quotes it).
SAMPLE_ARGS = ["--seed", "2026", "--count", "2000", "--start-ms", "1795615200000", "--rate", "10"]


def line(tweet_id: str, created_at: str, text: str = "hello") -> bytes:
    document = {
        "data": {"id": tweet_id, "text": text, "author_id": "42", "created_at": created_at},
        "includes": {"users": [{"id": "42", "username": "someone"}]},
        "matching_rules": [{"id": "1", "tag": "t"}],
    }
    return json.dumps(document).encode()


def write(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"".join(row + b"\n" for row in lines))
    return path


def test_lines_go_through_parse_line_and_malformed_ones_are_skipped_and_counted(tmp_path, caplog):
    good = [line("1", "2026-11-25T14:00:00.000Z"), line("2", "2026-11-25T14:00:00.500Z")]
    path = write(
        tmp_path / "t.jsonl",
        good[0],
        b'{"data": {"id": "3", "text": "no author or time"}}',  # JSON, but not a tweet
        b"",  # a keep-alive: passed over, not malformed
        b"   " + good[1] + b"\r",  # padding and a CRLF ending, as parse_line tolerates
        b"{not json",
    )
    source = ReplaySource(path, speed=None)
    with caplog.at_level(logging.WARNING, logger="ingest.replay"):
        envelopes = list(source.envelopes())
    assert envelopes == [parse_line(good[0]), parse_line(b"   " + good[1] + b"\r")]
    assert envelopes[1].raw == good[1], "the raw bytes are the line, trimmed"
    assert source.skipped == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "line 2 " in warnings[0] and "line 5 " in warnings[1]
    assert source.summary() == f"replayed 2 tweets from {path}, skipped 2 malformed lines"


def test_the_parser_is_the_shared_one(tmp_path, monkeypatch):
    """Replay calls chirpstream.tweets.parse_line, not a parser of its own."""
    calls = []

    def spy(raw):
        calls.append(raw)
        return parse_line(raw)

    monkeypatch.setattr(replay, "parse_line", spy)
    path = write(tmp_path / "t.jsonl", line("1", "2026-11-25T14:00:00.000Z"))
    assert len(list(ReplaySource(path, speed=None).envelopes())) == 1
    assert len(calls) == 1


def test_a_simulated_stream_replays_to_the_same_envelopes(tmp_path):
    envelopes = list(itertools.islice(simulated_envelopes(4, START_MS), 500))
    path = write(tmp_path / "sim.jsonl", *(e.raw for e in envelopes))
    assert list(ReplaySource(path, speed=None).envelopes()) == envelopes


@pytest.mark.parametrize(("speed", "expected"), [(1.0, [0, 1, 3, 3]), (10.0, [0, 0.1, 0.3, 0.3])])
def test_speed_scales_the_recorded_gaps(tmp_path, speed, expected):
    path = write(
        tmp_path / "t.jsonl",
        line("1", "2026-11-25T14:00:10.000Z"),
        line("2", "2026-11-25T14:00:11.000Z"),
        line("3", "2026-11-25T14:00:13.000Z"),
        line("4", "2026-11-25T14:00:12.000Z"),  # out of order: sent at once
    )
    clock = FakeClock()
    began = clock.monotonic()
    times = [clock.monotonic() - began for _ in ReplaySource(path, speed, clock=clock).envelopes()]
    assert times == pytest.approx(expected, abs=1e-9)
    assert max(clock.sleeps) <= replay.NAP_S


def test_max_speed_never_sleeps(tmp_path):
    path = write(
        tmp_path / "t.jsonl",
        line("1", "2026-11-25T14:00:00.000Z"),
        line("2", "2026-11-25T15:00:00.000Z"),
    )
    clock = FakeClock()
    assert len(list(ReplaySource(path, speed=None, clock=clock).envelopes())) == 2
    assert clock.sleeps == []


def test_loop_repeats_the_same_lines_and_keeps_pace_per_pass(tmp_path):
    lines = [line(str(n), f"2026-11-25T14:00:0{n}.000Z") for n in range(3)]
    path = write(tmp_path / "t.jsonl", *lines, b"garbage")
    clock = FakeClock()
    source = ReplaySource(path, speed=1.0, loop=True, clock=clock)
    taken = list(itertools.islice(source.envelopes(), 8))
    assert [e.raw for e in taken] == (lines * 3)[:8]
    assert source.skipped == 1, "a malformed line counts once, not once a pass"
    assert clock.monotonic() - 1000.0 == pytest.approx(2 + 2 + 1)
    assert source.passes == 3


def test_a_file_without_a_single_tweet_does_not_loop_forever(tmp_path):
    path = write(tmp_path / "t.jsonl", b"nope", b"[]")
    source = ReplaySource(path, speed=None, loop=True)
    assert list(source.envelopes()) == []
    assert source.skipped == 2


def test_close_during_a_long_gap_ends_promptly(tmp_path):
    path = write(
        tmp_path / "t.jsonl",
        line("1", "2026-11-25T14:00:00.000Z"),
        line("2", "2026-11-25T15:00:00.000Z"),  # an hour later
    )
    clock = FakeClock()
    source = ReplaySource(path, speed=1.0, clock=clock)
    clock.on_sleep = lambda: len(clock.sleeps) == 3 and source.close()
    assert [e.tweet_id for e in source.envelopes()] == ["1"]
    assert sum(clock.sleeps) <= 3 * replay.NAP_S + 1e-9


def test_close_from_another_thread_is_prompt_on_the_real_clock(tmp_path):
    path = write(
        tmp_path / "t.jsonl",
        line("1", "2026-11-25T14:00:00.000Z"),
        line("2", "2026-11-25T15:00:00.000Z"),
    )
    source = ReplaySource(path, speed=1.0)
    seen = []
    worker = threading.Thread(target=lambda: seen.extend(source.envelopes()))
    worker.start()
    time.sleep(0.05)
    source.close()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert [e.tweet_id for e in seen] == ["1"]


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl does not exist"):
        ReplaySource(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        ReplaySource(tmp_path)


@pytest.mark.parametrize("speed", [0, -2.0])
def test_bad_speed_is_refused(tmp_path, speed):
    path = write(tmp_path / "t.jsonl", line("1", "2026-11-25T14:00:00.000Z"))
    with pytest.raises(ValueError):
        ReplaySource(path, speed=speed)


def test_the_shipped_sample_replays_fully_with_no_skipped_lines():
    rows = SAMPLE.read_bytes().splitlines()
    source = ReplaySource(SAMPLE, speed=None)
    envelopes = list(source.envelopes())
    assert source.skipped == 0
    assert len(envelopes) == len(rows) == 2000
    assert [e.raw for e in envelopes] == rows
    assert SAMPLE.stat().st_size < 2_000_000
    minutes = (envelopes[-1].created_at_ms - envelopes[0].created_at_ms) / 60_000
    assert minutes > 2, "a few minutes of traffic, so a replay at 1x shows a burst"


def test_the_shipped_sample_is_what_the_documented_command_writes(tmp_path):
    """If the simulator changes, regenerate the sample with SAMPLE_ARGS (see data/README.md)."""
    out = tmp_path / "sample.jsonl"
    assert simulate_main([*SAMPLE_ARGS, "--output", str(out)]) == 0
    assert out.read_bytes() == SAMPLE.read_bytes()
