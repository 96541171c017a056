"""The partition log on disk, in Kafka's layout.

Owns: ``<root>/<topic>-<partition>/`` directories with segments named by their 20-digit base
offset (``.log``, ``.index``, ``.timeindex``), ``leader-epoch-checkpoint`` and
``partition.metadata``; the root's ``recovery-point-offset-checkpoint``,
``log-start-offset-checkpoint``, ``replication-offset-checkpoint``, ``.lock`` and
``.kafka_cleanshutdown``. Also the topic-level log settings (``LogConfig``) and the flush
policy (see ``config``), and each partition's idempotent-producer state with its
``<offset>.snapshot`` files (see ``producer_state``): ``PartitionLog.append`` deduplicates
and sequence-checks batches that carry a producer id. Logs whose cleanup.policy holds
``compact`` are compacted by the log cleaner (``cleaner``: one pass; ``log_cleaner``: the
background cleaner process and ``cleaner-offset-checkpoint``; ``swap``: how a cleaned segment
replaces old ones, crash-safely).

Invariants: batches are stored exactly as served, with consecutive offsets (the cleaner
rewrites batches but keeps every offset, see ``cleaner``); storage reads
their 61-byte headers, and records only to answer ListOffsets by timestamp (``record_times``).
An append is one ``write`` and is in the OS before it returns; a failed append leaves nothing
behind, and ``health`` reports a disk that refuses writes once per data directory. Recovery
keeps the longest valid prefix of a log (CRC-32C checked) and
never leaves a gap in offsets. A stored batch that this process did not write or recover is
CRC-32C checked before it is first served; a damaged one is never served. State files are
replaced atomically. A second broker cannot open a locked root. ``faults`` holds the crash
points and fsync marks that reliability tests arm with ``CHIRPSTREAM_FAULTS``.

Imports the standard library and ``broker.protocol`` only (and cramjam, to decompress the one
batch a ListOffsets by timestamp looks inside, and the batches the cleaner rewrites): no
sockets, no asyncio.
May be imported by ``broker.metadata``, ``broker.replica``, ``broker.groups``, ``broker.net`` and
``broker.node``.
Not thread-safe: callers serialise access to each ``PartitionLog`` and the ``LogManager``.
"""

from broker.storage.config import TOPIC_CONFIGS, LogConfig
from broker.storage.errors import (
    DuplicateBatch,
    InvalidProducerEpoch,
    OffsetOutOfRange,
    OutOfOrderSequence,
    ProducerStateError,
    StorageError,
)
from broker.storage.log import PartitionLog
from broker.storage.manager import LogManager
from broker.storage.producer_state import ProducerStateManager
from broker.storage.segment import FileSlice

__all__ = [
    "TOPIC_CONFIGS",
    "DuplicateBatch",
    "FileSlice",
    "InvalidProducerEpoch",
    "LogConfig",
    "LogManager",
    "OffsetOutOfRange",
    "OutOfOrderSequence",
    "PartitionLog",
    "ProducerStateError",
    "ProducerStateManager",
    "StorageError",
]
