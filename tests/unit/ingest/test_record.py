"""Recording: a tee in the replay format, written line by line, that replays identically."""

from __future__ import annotations

import json

from ingest.record import recorded
from ingest.replay import ReplaySource
from ingest.simulate import SimulatedSource
from tests.unit.ingest.test_simulate import START_MS


def simulated(limit: int | None = 300) -> SimulatedSource:
    return SimulatedSource(seed=5, rate=None, limit=limit, start_ms=START_MS)


def test_a_recorded_run_replays_to_identical_envelopes(tmp_path):
    path = tmp_path / "run.jsonl"
    source = recorded(simulated(), path)
    assert source.name == "simulate"
    envelopes = list(source.envelopes())
    assert envelopes == list(simulated().envelopes()), "the tee changes nothing"
    assert path.read_bytes() == b"".join(e.raw + b"\n" for e in envelopes)
    replayed = ReplaySource(path, speed=None)
    assert list(replayed.envelopes()) == envelopes
    assert replayed.skipped == 0


def test_each_line_is_on_disk_before_the_next_tweet(tmp_path):
    """A killed process loses at most the line in flight: nothing waits in a buffer."""
    path = tmp_path / "run.jsonl"
    stream = recorded(simulated(limit=None), path).envelopes()
    for count in range(1, 6):
        envelope = next(stream)
        rows = path.read_bytes().split(b"\n")
        assert len(rows) == count + 1 and rows[-1] == b""
        assert rows[-2] == envelope.raw
        json.loads(rows[-2])
    stream.close()


def test_recording_a_replay_writes_the_valid_lines_back(tmp_path):
    source_file = tmp_path / "in.jsonl"
    rows = [e.raw for e in simulated(limit=50).envelopes()]
    source_file.write_bytes(b"\n".join([*rows[:10], b"broken", *rows[10:]]) + b"\n")
    out = tmp_path / "deeper" / "out.jsonl"  # missing folders are made
    tee = recorded(ReplaySource(source_file, speed=None), out)
    assert tee.name == "replay"
    assert len(list(tee.envelopes())) == 50
    assert out.read_bytes().splitlines() == rows
    assert tee.skipped == 1, "the inner source's counters show through"
    assert tee.summary() == (
        f"replayed 50 tweets from {source_file}, skipped 1 malformed lines; "
        f"recorded 50 tweets to {out}"
    )


def test_close_reaches_the_inner_source_and_the_file_is_truncated_on_start(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"old contents\n")
    tee = recorded(simulated(limit=None), path)
    assert path.read_bytes() == b""
    taken = []
    for envelope in tee.envelopes():
        taken.append(envelope)
        if len(taken) == 7:
            tee.close()
    assert len(taken) == 7
    assert len(path.read_bytes().splitlines()) == 7
