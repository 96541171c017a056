"""One module per Kafka API; ``REGISTRY`` lists every served API and version range."""

from broker.net.handlers import (
    alter_configs,
    api_versions,
    delete_groups,
    describe_cluster,
    describe_configs,
    describe_groups,
    elect_leaders,
    fetch,
    find_coordinator,
    heartbeat,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sync_group,
    topics,
)
from broker.net.registry import Registry

REGISTRY = Registry(
    [
        *produce.SPECS,
        *fetch.SPECS,
        *list_offsets.SPECS,
        *metadata.SPECS,
        *api_versions.SPECS,
        *topics.SPECS,
        *init_producer_id.SPECS,
        *describe_configs.SPECS,
        *alter_configs.SPECS,
        *find_coordinator.SPECS,
        *join_group.SPECS,
        *sync_group.SPECS,
        *heartbeat.SPECS,
        *leave_group.SPECS,
        *offset_commit.SPECS,
        *offset_fetch.SPECS,
        *describe_groups.SPECS,
        *list_groups.SPECS,
        *delete_groups.SPECS,
        *describe_cluster.SPECS,
        *offset_for_leader_epoch.SPECS,
        *elect_leaders.SPECS,
    ]
)
