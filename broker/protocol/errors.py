"""The protocol layer's exceptions.

``ProtocolError`` means the peer sent bytes we cannot serve: the connection that sent them is
closed and nothing else changes. The record errors map to Kafka error codes in a response.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A malformed, oversized or unsupported request: close that one connection."""


class RecordError(Exception):
    """A produced batch that must be refused with a Kafka error code."""


class CorruptRecord(RecordError):
    """CORRUPT_MESSAGE (2): a CRC mismatch."""


class InvalidRecord(RecordError):
    """INVALID_RECORD (87): a batch that is not a well-formed v2 batch."""
