"""The leader-change entry's value is Kafka's LeaderChangeMessage, and the cluster tests'
one-controller-per-epoch check reads it from the metadata logs: it passes on logs as a
quorum writes them and catches doctored ones."""

from __future__ import annotations

import pytest

from broker.raft import Entry, leader_change
from broker.raft.leader_change import LeaderChange, LeaderChangeError
from tests.cluster.quorum_checks import check_one_controller_per_epoch


def test_the_message_has_kafkas_layout_and_reads_back() -> None:
    value = leader_change.encode(2, voters=[0, 1, 2], granting_voters=[2, 0])
    # Version 0, LeaderId 2, Voters [0, 1, 2], GrantingVoters [0, 2], each a compact array of
    # Voter structs that end in an empty tagged-field section, and the message's own.
    assert value == bytes.fromhex(
        "0000" "00000002" "04" "0000000000" "0000000100" "0000000200" "03" "0000000000"
        "0000000200" "00"
    )  # fmt: skip
    assert leader_change.decode(value) == LeaderChange(2, (0, 1, 2), (0, 2))


@pytest.mark.parametrize(
    "value",
    [b"", b"\x00\x01" + bytes(8), leader_change.encode(1, [1], [1]) + b"\x00"],
    ids=["empty", "version 1", "trailing bytes"],
)
def test_anything_else_is_refused(value: bytes) -> None:
    with pytest.raises(LeaderChangeError):
        leader_change.decode(value)


def change(epoch: int, leader: int) -> Entry:
    return Entry(epoch, leader_change.encode(leader, [0, 1, 2], [leader]), leader_change=True)


# Two nodes' logs: node 0 led epoch 1, node 1 led epoch 2 (log start 0 on both).
LOGS = {
    0: (0, [change(1, 0), Entry(1, b"a"), change(2, 1), Entry(2, b"b")]),
    1: (0, [change(1, 0), Entry(1, b"a"), change(2, 1)]),
}


def test_logs_as_a_quorum_writes_them_pass() -> None:
    assert check_one_controller_per_epoch({1: {0}, 2: {1}}, LOGS) == {1: {0}, 2: {1}}


def test_a_log_naming_another_leader_of_an_epoch_is_caught() -> None:
    doctored = {**LOGS, 2: (0, [change(1, 0), Entry(1, b"a"), change(2, 2)])}
    with pytest.raises(AssertionError, match="two leaders of one epoch"):
        check_one_controller_per_epoch({1: {0}, 2: {1}}, doctored)


def test_a_controller_acting_in_an_epoch_it_did_not_lead_is_caught() -> None:
    with pytest.raises(AssertionError, match="another node led"):
        check_one_controller_per_epoch({1: {0}, 2: {0}}, LOGS)
    with pytest.raises(AssertionError, match="two controllers acted"):
        check_one_controller_per_epoch({1: {0}, 2: {0, 1}}, LOGS)
