"""The value of a leader-change entry: Kafka's LeaderChangeMessage (version 0), which a new
leader writes as the first entry of its epoch (a LEADER_CHANGE control record, ``batches``).

It names the leader, the voters of the epoch and the voters that granted the election, so the
metadata log itself says who led each epoch (``kafka-dump-log.sh`` prints the same fields).
Layout, flexible version 0: Version int16, LeaderId int32, Voters and GrantingVoters as compact
arrays of Voter {VoterId int32, no tagged fields}, then no tagged fields.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from broker.protocol.varint import read_uvarint, uvarint

VERSION = 0
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


class LeaderChangeError(ValueError):
    """Bytes that are not a LeaderChangeMessage of version 0."""


@dataclass(frozen=True, slots=True)
class LeaderChange:
    leader_id: int
    voters: tuple[int, ...]
    granting_voters: tuple[int, ...]


def encode(leader_id: int, voters: Iterable[int], granting_voters: Iterable[int]) -> bytes:
    out = bytearray(_INT16.pack(VERSION) + _INT32.pack(leader_id))
    for ids in (sorted(voters), sorted(granting_voters)):
        out += uvarint(len(ids) + 1)
        for voter in ids:
            out += _INT32.pack(voter) + b"\0"  # the Voter and its empty tagged fields
    out += b"\0"  # no tagged fields
    return bytes(out)


def decode(value: bytes) -> LeaderChange:
    """Raises LeaderChangeError for anything else (an empty value, another version)."""
    try:
        (version,) = _INT16.unpack_from(value, 0)
        if version != VERSION:
            raise LeaderChangeError(f"LeaderChangeMessage version {version}, not {VERSION}")
        (leader_id,) = _INT32.unpack_from(value, 2)
        position = 6
        arrays = []
        for _ in range(2):
            count, position = read_uvarint(value, position)
            ids = []
            for _ in range(count - 1):
                (voter,) = _INT32.unpack_from(value, position)
                ids.append(voter)
                position += 5  # the id and its empty tagged fields
            arrays.append(tuple(ids))
        _, position = read_uvarint(value, position)
    except LeaderChangeError:
        raise
    except (struct.error, ValueError) as exc:  # ValueError: the value ends inside a varint
        raise LeaderChangeError(f"not a whole LeaderChangeMessage: {exc}") from None
    if position != len(value):
        raise LeaderChangeError(f"{len(value) - position} bytes after the LeaderChangeMessage")
    return LeaderChange(leader_id, arrays[0], arrays[1])
