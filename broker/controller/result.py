"""What every controller operation returns: the records to append and the answer to give."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from broker.metadata.records import MetadataRecord

Answer = TypeVar("Answer")


@dataclass(frozen=True, slots=True)
class ControllerResult(Generic[Answer]):
    """``records`` to append to the metadata log, in order, and ``answer`` to send once they
    are committed. Applying ``records`` to the image the operation saw yields the new image."""

    records: tuple[MetadataRecord, ...]
    answer: Answer
