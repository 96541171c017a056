"""A checkpoint is committed only once every result produced before it is acknowledged."""

from __future__ import annotations

from consumers.commits import PendingCommits


def test_a_checkpoint_waits_for_an_earlier_result_even_when_later_ones_are_acknowledged():
    commits = PendingCommits()
    first, second = commits.sent(), commits.sent()
    commits.take({0: 10})
    third = commits.sent()
    commits.acknowledged(second)
    commits.acknowledged(third)
    assert commits.ready() == {}
    commits.acknowledged(first)
    assert commits.ready() == {0: 10}
    assert commits.ready() == {}  # handed out once


def test_the_newest_ready_checkpoint_wins_and_a_later_one_keeps_waiting():
    commits = PendingCommits()
    commits.take({0: 5, 1: 7})
    done = commits.sent()
    commits.take({0: 9})
    waiting = commits.sent()
    commits.take({0: 12, 1: 13})
    commits.acknowledged(done)
    assert commits.ready() == {0: 9, 1: 7}
    commits.acknowledged(waiting)
    assert commits.ready() == {0: 12, 1: 13}


def test_a_result_never_acknowledged_holds_back_every_later_checkpoint():
    commits = PendingCommits()
    commits.sent()  # its delivery failed: never acknowledged
    for offset in range(3):
        commits.acknowledged(commits.sent())
        commits.take({0: offset})
    assert commits.ready() == {}


def test_forgotten_partitions_are_not_committed():
    commits = PendingCommits()
    commits.take({0: 4, 1: 6})
    commits.forget([1])
    assert commits.ready() == {0: 4}


def test_a_partition_is_waited_for_until_its_checkpoint_is_handed_out():
    commits = PendingCommits()
    result = commits.sent()
    commits.take({0: 5})
    assert commits.waiting_for(0, 5) and not commits.waiting_for(0, 6)
    assert not commits.waiting_for(1, 5)
    commits.acknowledged(result)
    assert commits.ready() == {0: 5}
    assert not commits.waiting_for(0, 5)


def test_a_withdrawn_offset_leaves_the_partition_s_earlier_checkpoints_waiting():
    commits = PendingCommits()
    commits.take({0: 5, 1: 2})
    result = commits.sent()
    commits.take({0: 9, 1: 3})  # 9: the end of partition 0's run, which is then called off
    commits.withdraw(0, 9)
    commits.acknowledged(result)
    assert commits.ready() == {0: 5, 1: 3}
