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


class DuplicateBatch(Exception):
    """Not an error: the request resends a batch the log already holds. Nothing was appended;
    the producer is answered with success and the original offsets (as Kafka does)."""

    def __init__(self, base_offset: int, last_offset: int) -> None:
        super().__init__(
            f"duplicate of the batch already stored at offsets {base_offset} to {last_offset}"
        )
        self.base_offset = base_offset
        self.last_offset = last_offset


class ProducerStateError(Exception):
    """An idempotent batch the producer state refuses; ``error_code`` is the Kafka code."""

    error_code: int


class InvalidProducerEpoch(ProducerStateError):
    """INVALID_PRODUCER_EPOCH (47): the batch's producer epoch is older than the current one."""

    error_code = 47

    def __init__(self, producer_id: int, producer_epoch: int, current_epoch: int) -> None:
        super().__init__(
            f"producer {producer_id} sent epoch {producer_epoch}, older than its current "
            f"epoch {current_epoch}"
        )
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.current_epoch = current_epoch


class OutOfOrderSequence(ProducerStateError):
    """OUT_OF_ORDER_SEQUENCE_NUMBER (45): the batch's first sequence is not the next one."""

    error_code = 45

    def __init__(
        self, producer_id: int, producer_epoch: int, sequence: int, expected_sequence: int
    ) -> None:
        super().__init__(
            f"producer {producer_id} epoch {producer_epoch} sent sequence {sequence}, "
            f"expected {expected_sequence}"
        )
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.sequence = sequence
        self.expected_sequence = expected_sequence
