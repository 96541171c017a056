"""A follower's rules: it keeps its leader's id, learns the high watermark from the leader
(never past its own log end), and truncates only where the leader says the logs diverge
(KIP-101, KIP-279, KIP-320), never to its high watermark. Each test plays the fetch
exchange between two replicas' logs by hand, with the leader side's check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.protocol.batch import validate_produced, validate_replicated
from broker.replica.replica import Replica
from broker.storage import PartitionLog
from tests.support.batches import make_batch
from tests.unit.replica.exchange import NOW_MS, catch_up, everything, fetch, replica_in

A, B = 0, 1


@pytest.fixture
def replica_on(tmp_path: Path) -> Iterator:
    """``replica_on(node)``: node's replica of t-0, in its own data directory, led by it."""
    made: list[PartitionLog] = []

    def make(node: int, high_watermark: int = 0, isr: frozenset[int] | None = None) -> Replica:
        replica = replica_in(tmp_path / f"node-{node}", node, high_watermark, isr)
        made.append(replica.log)
        return replica

    yield make
    for partition_log in made:
        partition_log.close()


def write(replica: Replica, *values: bytes) -> None:
    for value in values:
        batch = make_batch([value])
        replica.append(batch, validate_produced(batch), NOW_MS)


def values(replica: Replica) -> list[bytes]:
    """The record values of single-record batches, in log order."""
    data = everything(replica)
    return [
        data[h.position + h.size - 2 : h.position + h.size - 1] for h in validate_produced(data)
    ]


def test_a_follower_keeps_its_leader_and_learns_the_high_watermark_up_to_its_own_end(
    replica_on,
) -> None:
    a, b = replica_on(A), replica_on(B)
    a.become_leader(1, frozenset({A, B}))
    b.become_follower(A, 1)
    assert (b.leader_id, b.leader_epoch, a.leader_id) == (A, 1, A)
    write(a, b"1", b"2", b"3")
    assert a.high_watermark == 0
    assert a.read(0, 1 << 20) is None  # consumers see nothing past the HW...
    assert a.read(0, 1 << 20, to_log_end=True) is not None  # ...followers read to the LEO
    fetch(a, b)
    assert (b.log_end_offset, b.high_watermark, a.high_watermark) == (3, 0, 0)
    fetch(a, b)  # the leader learns the follower's end from its next fetch
    assert (a.high_watermark, b.high_watermark) == (3, 3)
    b.follow_high_watermark(10)  # never past its own log end
    assert b.high_watermark == 3
    assert everything(b) == everything(a)


def test_an_old_leaders_divergent_suffix_is_cut_at_the_new_leaders_epoch_end(replica_on) -> None:
    """KIP-101: A led epoch 1 and wrote m2, m3 that B never got; B leads epoch 2 and writes
    n2. A, following B, cuts m2 and m3 and takes n2 at the same offset."""
    a, b = replica_on(A), replica_on(B)
    a.become_leader(1, frozenset({A, B}))
    b.become_follower(A, 1)
    write(a, b"0", b"1")
    catch_up(a, b)
    write(a, b"2", b"3")  # never replicated
    b.become_leader(2, frozenset({B}))
    write(b, b"n")
    a.become_follower(B, 2)
    assert b.diverging_epoch(a.log_end_offset, a.last_fetched_epoch) == (1, 2)
    catch_up(b, a)
    assert values(a) == values(b) == [b"0", b"1", b"n"]
    assert everything(a) == everything(b)
    assert a.log.leader_epochs == b.log.leader_epochs == [(1, 0), (2, 2)]


def test_a_follower_restarting_with_a_stale_high_watermark_keeps_what_it_has(replica_on) -> None:
    """KIP-101: B has m1 but its HW (checkpointed) says 1. Restarted, it must not cut to the
    HW: A then dies and B, the new leader, still holds m1, which A had acknowledged."""
    a, b = replica_on(A), replica_on(B)
    a.become_leader(1, frozenset({A, B}))
    b.become_follower(A, 1)
    write(a, b"0")
    catch_up(a, b)
    write(a, b"1")
    fetch(a, b)  # B has m1; its HW is still 1
    fetch(a, b)  # A's HW moves to 2: m1 is acknowledged; B does not hear of it
    assert (a.high_watermark, b.log_end_offset) == (2, 2)
    b.log.close()
    b = replica_on(B, high_watermark=1, isr=frozenset({A, B}))  # restarted; HW checkpointed
    b.become_follower(A, 1)
    assert (b.log_end_offset, b.high_watermark) == (2, 1)
    assert a.diverging_epoch(b.log_end_offset, b.last_fetched_epoch) is None  # nothing to cut
    b.become_leader(2, frozenset({B}))  # A dies
    assert values(b) == [b"0", b"1"]
    assert b.high_watermark == 2


def test_rapid_double_failover_truncates_to_the_epoch_both_logs_share(replica_on) -> None:
    """KIP-279: A (epoch 1) writes m0 (replicated) and m1; B leads epoch 2 and writes n1;
    A comes back to lead epoch 3 and writes m2. B, following A, must drop n1 although its
    offset is below A's log end."""
    a, b = replica_on(A), replica_on(B)
    a.become_leader(1, frozenset({A, B}))
    b.become_follower(A, 1)
    write(a, b"0")
    catch_up(a, b)
    write(a, b"1")
    b.become_leader(2, frozenset({B}))
    write(b, b"n")
    a.become_leader(3, frozenset({A}))
    write(a, b"2")
    b.become_follower(A, 3)
    assert a.diverging_epoch(b.log_end_offset, b.last_fetched_epoch) == (1, 2)
    assert b.truncate_to_leader(1, 2) == 1  # the end of epoch 1 on B, not A's 2
    catch_up(a, b)
    assert values(b) == values(a) == [b"0", b"1", b"2"]
    assert b.log.leader_epochs == [(1, 0), (3, 2)]


def test_an_epoch_the_follower_never_had_makes_it_step_back_and_ask_again(replica_on) -> None:
    """KIP-279: the leader answers an epoch B lacks (1): B cuts to the end of its own largest
    epoch below it (0) and its next fetch, from there, agrees."""
    a, b = replica_on(A), replica_on(B)
    b.become_leader(0, frozenset({B}))
    write(b, b"0", b"1")
    b.become_leader(2, frozenset({B}))
    write(b, b"x", b"y")
    a.become_follower(B, 2)
    data = everything(b)
    epoch_0 = validate_replicated(data)[:2]  # A got B's epoch-0 batches only
    a.append_as_follower(data[: epoch_0[-1].position + epoch_0[-1].size], epoch_0, NOW_MS)
    a.become_leader(1, frozenset({A}))
    write(a, b"2")
    a.become_leader(3, frozenset({A}))
    write(a, b"3")
    b.become_follower(A, 3)
    assert a.diverging_epoch(b.log_end_offset, b.last_fetched_epoch) == (1, 3)
    assert b.truncate_to_leader(1, 3) == 2  # where B's epoch 0 ends, not A's epoch 1
    assert a.diverging_epoch(b.log_end_offset, b.last_fetched_epoch) is None
    catch_up(a, b)
    assert everything(b) == everything(a)
    assert values(b) == [b"0", b"1", b"2", b"3"]


def test_an_old_leader_that_wrote_nothing_in_its_epoch_forgets_that_epoch(replica_on) -> None:
    a, b = replica_on(A), replica_on(B)
    a.become_leader(1, frozenset({A, B}))
    b.become_follower(A, 1)
    write(a, b"0")
    catch_up(a, b)
    a.become_leader(2, frozenset({A}))  # leads epoch 2 at offset 1, writes nothing
    b.become_leader(3, frozenset({B}))
    write(b, b"n")
    a.become_follower(B, 3)
    assert a.last_fetched_epoch == 2
    catch_up(b, a)
    assert a.log.leader_epochs == [(1, 0), (3, 1)]
    assert values(a) == [b"0", b"n"]


def test_a_divergence_below_the_followers_log_start_empties_its_log(replica_on) -> None:
    """Kafka's truncateTo below the first segment: the log starts over at the leader's end."""
    a, b = replica_on(A), replica_on(B)
    a.become_leader(1, frozenset({A}))
    write(a, b"0", b"1")
    b.become_leader(2, frozenset({B}))
    write(b, b"x", b"y", b"z")
    b.log.advance_log_start(3)  # retention took all of it
    b.become_follower(A, 3)
    a.become_leader(3, frozenset({A, B}))
    assert a.diverging_epoch(b.log_end_offset, b.last_fetched_epoch) == (1, 2)
    assert b.truncate_to_leader(1, 2) == 2
    assert (b.log_start_offset, b.log_end_offset, b.high_watermark) == (2, 2, 2)
    write(a, b"2")
    catch_up(a, b)
    assert values(b) == [b"2"]
