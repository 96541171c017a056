"""One partition's next state: who leads, who is in the ISR (Kafka's PartitionChangeBuilder).

Rules, as Kafka's controller applies them:

- A leader must be *active* (registered, unfenced, not in controlled shutdown) and in the ISR.
- The current leader stays when it still may lead (except for a preferred election); otherwise
  the first replica, in replica order, that is an active ISR member leads (a clean election).
- With none, an unclean election (``unclean.leader.election.enable``: the topic's, else the
  cluster-wide dynamic one, else the active controller's static one; or ElectLeaders UNCLEAN)
  takes the first active replica and the ISR becomes just that replica; without it the
  partition goes offline (leader -1) until an ISR member returns.
- An ISR never becomes empty: removing its last member leaves that member in it (the replica
  that has every acked record), and the leader becomes -1.
- Every change bumps the partition epoch, and a leader change the leader epoch too (applying
  the :class:`PartitionChangeRecord` does both).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable

from broker.metadata.image import MetadataImage, PartitionRegistration
from broker.metadata.records import (
    NO_LEADER,
    NO_LEADER_CHANGE,
    ConfigResourceType,
    PartitionChangeRecord,
)

UNCLEAN_LEADER_ELECTION = "unclean.leader.election.enable"


class Election(enum.Enum):
    """What kind of leader a change may pick."""

    ONLINE = "online"  # keep the leader if it may lead, else a clean election
    PREFERRED = "preferred"  # the first replica when it may lead (ElectLeaders PREFERRED)
    UNCLEAN = "unclean"  # clean if possible, else any active replica (ElectLeaders UNCLEAN)


def is_active(image: MetadataImage, broker_id: int) -> bool:
    """Whether ``broker_id`` may lead or join an ISR: registered, unfenced, not shutting down."""
    broker = image.brokers.get(broker_id)
    return broker is not None and not broker.fenced and not broker.in_controlled_shutdown


def unclean_election_enabled(image: MetadataImage, topic: str, default: bool) -> bool:
    """The topic's ``unclean.leader.election.enable``, else the cluster-wide dynamic default
    (the broker resource named ""), else ``default``: the active controller's own static
    setting, which Kafka's controller falls back on and never writes into the metadata.

    A cluster-wide value an older controller wrote on becoming active (it copied its static
    setting there) is in the metadata like one an admin set, so it counts as dynamic: it
    wins over ``default`` until deleted (``kafka-configs --delete-config``)."""
    value = image.topic_config(topic).get(UNCLEAN_LEADER_ELECTION)
    if value is None:
        cluster = image.configs.get((ConfigResourceType.BROKER, ""), {})
        value = cluster.get(UNCLEAN_LEADER_ELECTION)
    return default if value is None else value.strip().lower() == "true"


def change_partition(
    topic_id: uuid.UUID,
    partition_id: int,
    current: PartitionRegistration,
    active: Callable[[int], bool],
    *,
    target_isr: tuple[int, ...] | None = None,
    election: Election = Election.ONLINE,
    unclean_allowed: bool = False,
    bump_leader_epoch: bool = False,
) -> PartitionChangeRecord | None:
    """The record moving ``current`` to its next state, or None when nothing changes.

    ``target_isr`` is the ISR the caller wants (default: the current one); ``active`` says
    which brokers may lead or stay in an ISR of more than one. ``bump_leader_epoch`` names
    the leader even when it stays, so the leader epoch moves on (a controlled shutdown does
    this, so that no request made under the old epoch can add the broker back)."""
    isr = current.isr if target_isr is None else target_isr
    if not isr:
        isr = current.isr  # never empty: the last member stays
    leader = _elect(current, isr, active, election, unclean_allowed)
    if leader != NO_LEADER and leader not in isr:
        isr = (leader,)  # an unclean election: the new leader's log is the truth now
    same_leader = leader == current.leader and not bump_leader_epoch
    if same_leader and isr == current.isr:
        return None
    return PartitionChangeRecord(
        partition_id=partition_id,
        topic_id=topic_id,
        isr=None if isr == current.isr else isr,
        leader=NO_LEADER_CHANGE if same_leader else leader,
    )


def _elect(
    current: PartitionRegistration,
    isr: tuple[int, ...],
    active: Callable[[int], bool],
    election: Election,
    unclean_allowed: bool,
) -> int:
    def may_lead(replica: int) -> bool:
        return replica in isr and active(replica)

    preferred = current.replicas[0]
    if election is Election.PREFERRED and may_lead(preferred):
        return preferred
    if current.leader != NO_LEADER and may_lead(current.leader):
        return current.leader
    for replica in current.replicas:
        if may_lead(replica):
            return replica
    if unclean_allowed or election is Election.UNCLEAN:
        for replica in current.replicas:
            if active(replica):
                return replica
    return NO_LEADER
