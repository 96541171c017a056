"""Brokers joining and leaving: registration, heartbeats and leases, controlled shutdown.

As Kafka's ``ClusterControlManager`` and ``BrokerHeartbeatManager``:

- BrokerRegistration writes a RegisterBrokerRecord whose epoch is the offset it is written at;
  the broker starts *fenced*. Another incarnation id under a live lease is refused
  (DUPLICATE_BROKER_REGISTRATION); registering *again* moves the broker out of the ISRs its
  previous registration left it in. A first registration moves nothing: partitions that
  already name the broker (a single node reloading its stored topics) stay as they are.
- A heartbeat renews the broker's lease. A fenced broker is unfenced once the metadata offset
  it reports reaches its registration's offset (it has caught up), and offline partitions it
  can lead get it as leader.
- :func:`fence_expired` fences every broker whose lease is older than
  ``broker.session.timeout.ms`` and moves its leaderships and ISR places to other brokers.
- Controlled shutdown (a heartbeat with ``want_shut_down``): the broker first gives up its
  leaderships and ISR places while staying unfenced (CONTROLLED_SHUTDOWN), and every
  partition it was in gets a new leader epoch; once every active broker has seen those
  changes it is fenced and told to stop (SHUTDOWN_NOW). A broker asking to be fenced and to
  shut down at once is fenced and stops.

Leases are the controller's memory, not metadata: they live in :data:`Leases`, which these
functions take and return alongside the :class:`ControllerResult`. So is the controller's
static ``unclean.leader.election.enable`` (``unclean_default``): where no dynamic config sets
it, it decides whether moving a broker's leaderships may elect outside the ISR (see
:mod:`.elections`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from kio.schema.errors import ErrorCode

from broker.controller.elections import elect_offline, move_off
from broker.controller.result import ControllerResult
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    Endpoint,
    FenceBrokerRecord,
    MetadataRecord,
    RegisterBrokerRecord,
    UnfenceBrokerRecord,
)

DEFAULT_SESSION_TIMEOUT_MS = 3000
"""The bundled ``broker.session.timeout.ms`` (Kafka's default is 9000)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """What the controller remembers of a broker between heartbeats."""

    last_contact_ms: int
    metadata_offset: int = -1  # the last metadata offset the broker said it has applied
    # The offset of the last record that moved its leaderships, while it shuts down.
    controlled_shutdown_offset: int | None = None


Leases = Mapping[int, Lease]
"""Leases by broker id."""


def start_leases(image: MetadataImage, now_ms: int) -> Leases:
    """A fresh lease for every registered broker, as a newly active controller gives them."""
    return MappingProxyType({broker_id: Lease(now_ms) for broker_id in image.brokers})


@dataclass(frozen=True, slots=True)
class BrokerRegistrationRequest:
    broker_id: int
    incarnation_id: uuid.UUID
    listeners: tuple[Endpoint, ...] = ()
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerRegistrationAnswer:
    error_code: ErrorCode
    broker_epoch: int = -1
    message: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerHeartbeatRequest:
    broker_id: int
    broker_epoch: int
    current_metadata_offset: int
    want_fence: bool = False
    want_shut_down: bool = False


@dataclass(frozen=True, slots=True)
class BrokerHeartbeatAnswer:
    error_code: ErrorCode
    is_caught_up: bool = False
    is_fenced: bool = True
    should_shut_down: bool = False


def register_broker(
    image: MetadataImage,
    leases: Leases,
    request: BrokerRegistrationRequest,
    *,
    now_ms: int,
    next_offset: int,
    unclean_default: bool,
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS,
) -> tuple[ControllerResult[BrokerRegistrationAnswer], Leases]:
    """BrokerRegistration. ``next_offset`` is the log offset the records will start at; it
    becomes the broker epoch."""
    existing = image.brokers.get(request.broker_id)
    lease = leases.get(request.broker_id)
    if (
        existing is not None
        and existing.incarnation_id != request.incarnation_id
        and lease is not None
        and _alive(lease, now_ms, session_timeout_ms)
    ):
        answer = BrokerRegistrationAnswer(
            ErrorCode.duplicate_broker_registration,
            message=f"Another broker is registered with broker id {request.broker_id}.",
        )
        return ControllerResult((), answer), leases
    record = RegisterBrokerRecord(
        broker_id=request.broker_id,
        incarnation_id=request.incarnation_id,
        broker_epoch=next_offset,
        end_points=request.listeners,
        rack=request.rack,
        fenced=True,
    )
    records: list[MetadataRecord] = [record]
    if existing is not None:
        moves = move_off(image.apply(record), request.broker_id, unclean_default=unclean_default)
        records.extend(moves)
    answer = BrokerRegistrationAnswer(ErrorCode.none, broker_epoch=next_offset)
    return ControllerResult(tuple(records), answer), _with(leases, request.broker_id, Lease(now_ms))


def heartbeat(
    image: MetadataImage,
    leases: Leases,
    request: BrokerHeartbeatRequest,
    *,
    now_ms: int,
    next_offset: int,
    unclean_default: bool,
) -> tuple[ControllerResult[BrokerHeartbeatAnswer], Leases]:
    """BrokerHeartbeat: renew the lease and move the broker through its states."""
    broker = image.brokers.get(request.broker_id)
    if broker is None or broker.epoch != request.broker_epoch:
        code = ErrorCode.stale_broker_epoch if broker else ErrorCode.broker_id_not_registered
        return ControllerResult((), BrokerHeartbeatAnswer(code)), leases
    previous = leases.get(broker.id)
    lease = Lease(
        now_ms,
        request.current_metadata_offset,
        None if previous is None else previous.controlled_shutdown_offset,
    )
    leases = _with(leases, broker.id, lease)
    caught_up = request.current_metadata_offset >= broker.epoch
    fence = FenceBrokerRecord(broker.id, broker.epoch)
    records: list[MetadataRecord] = []
    fenced, shut_down = broker.fenced, False
    if broker.fenced:
        if request.want_shut_down:
            shut_down = True
        # A broker fenced at the end of a controlled shutdown registers again to come back.
        elif caught_up and not request.want_fence and not broker.in_controlled_shutdown:
            unfence = UnfenceBrokerRecord(broker.id, broker.epoch)
            elected = elect_offline(image.apply(unfence), unclean_default=unclean_default)
            records = [unfence, *elected]
            fenced = False
    elif broker.in_controlled_shutdown:
        if _others_have_seen(image, leases, broker.id, lease):
            records = _fence(image, fence, unclean_default)
            fenced, shut_down = True, True
    elif request.want_fence:
        records, fenced = _fence(image, fence, unclean_default), True
        shut_down = request.want_shut_down
    elif request.want_shut_down:
        if any(p.leader == broker.id for _, _, p in image.all_partitions()):
            shutting = replace(broker.to_record(), in_controlled_shutdown=True, fenced=False)
            moves = move_off(
                image.apply(shutting),
                broker.id,
                unclean_default=unclean_default,
                bump_leader_epochs=True,
            )
            records = [shutting, *moves]
            lease = replace(lease, controlled_shutdown_offset=next_offset + len(records) - 1)
            leases = _with(leases, broker.id, lease)
        else:  # nothing to hand over: stop now
            records = _fence(image, fence, unclean_default)
            fenced, shut_down = True, True
    answer = BrokerHeartbeatAnswer(
        ErrorCode.none, is_caught_up=caught_up, is_fenced=fenced, should_shut_down=shut_down
    )
    return ControllerResult(tuple(records), answer), leases


def fence_expired(
    image: MetadataImage,
    leases: Leases,
    *,
    now_ms: int,
    unclean_default: bool,
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS,
) -> ControllerResult[list[int]]:
    """Fence every unfenced broker whose lease ran out (a broker with no lease counts as
    expired: give leases with :func:`start_leases` first). The answer lists them."""
    records: list[MetadataRecord] = []
    expired = []
    for broker in sorted(image.brokers.values(), key=lambda b: b.id):
        lease = leases.get(broker.id)
        if broker.fenced or (lease is not None and _alive(lease, now_ms, session_timeout_ms)):
            continue
        fenced = _fence(image, FenceBrokerRecord(broker.id, broker.epoch), unclean_default)
        records.extend(fenced)
        image = image.apply_all(fenced)
        expired.append(broker.id)
    return ControllerResult(tuple(records), expired)


def _alive(lease: Lease, now_ms: int, session_timeout_ms: int) -> bool:
    return now_ms <= lease.last_contact_ms + session_timeout_ms


def _fence(
    image: MetadataImage, fence: FenceBrokerRecord, unclean_default: bool
) -> list[MetadataRecord]:
    return [fence, *move_off(image.apply(fence), fence.id, unclean_default=unclean_default)]


def _others_have_seen(image: MetadataImage, leases: Leases, broker_id: int, lease: Lease) -> bool:
    """Whether every other active broker has applied the records that moved ``broker_id``'s
    leaderships (Kafka's check against the lowest active broker's metadata offset)."""
    if lease.controlled_shutdown_offset is None:
        return True
    for other in image.brokers.values():
        if other.id == broker_id or other.fenced or other.in_controlled_shutdown:
            continue
        seen = leases.get(other.id)
        if seen is None or seen.metadata_offset < lease.controlled_shutdown_offset:
            return False
    return True


def _with(leases: Leases, broker_id: int, lease: Lease) -> Leases:
    updated = dict(leases)
    updated[broker_id] = lease
    return MappingProxyType(updated)
