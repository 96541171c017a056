"""The storage layer's exceptions. Each message is one line that a caller can print as is."""

from __future__ import annotations


class StorageError(Exception):
    """The data directory cannot be used: locked, unwritable, or holding malformed state."""


class OffsetOutOfRange(Exception):
    """OFFSET_OUT_OF_RANGE (1): the offset lies outside [log start offset, log end offset]."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        super().__init__(
            f"offset {offset} is out of range: the log holds offsets "
            f"{log_start_offset} to {log_end_offset}"
        )
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset
