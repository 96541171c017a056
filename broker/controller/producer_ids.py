"""AllocateProducerIds: hand a broker the next block of producer ids (Kafka's
ProducerIdControlManager). Blocks are 1000 ids; the image's ``next_producer_id`` is the first
id no block holds yet, so blocks never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from broker.controller.result import ControllerResult
from broker.metadata.image import MetadataImage
from broker.metadata.records import ProducerIdsRecord

BLOCK_SIZE = 1000
_LAST_PRODUCER_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ProducerIdBlock:
    """AllocateProducerIds' answer: ids ``producer_id_start`` .. start + len - 1."""

    error_code: ErrorCode
    producer_id_start: int = -1
    producer_id_len: int = 0


def allocate_producer_ids(
    image: MetadataImage, broker_id: int, broker_epoch: int
) -> ControllerResult[ProducerIdBlock]:
    """The next block for ``broker_id``, which must be registered at ``broker_epoch``."""
    broker = image.brokers.get(broker_id)
    if broker is None or broker.epoch != broker_epoch:
        return ControllerResult((), ProducerIdBlock(ErrorCode.stale_broker_epoch))
    start = image.next_producer_id
    if start > _LAST_PRODUCER_ID - BLOCK_SIZE:
        return ControllerResult((), ProducerIdBlock(ErrorCode.unknown_server_error))
    record = ProducerIdsRecord(broker_id, broker_epoch, start + BLOCK_SIZE)
    return ControllerResult((record,), ProducerIdBlock(ErrorCode.none, start, BLOCK_SIZE))
