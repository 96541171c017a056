"""One module per Kafka API; ``REGISTRY`` lists every served API and version range."""

from broker.net.handlers import (
    api_versions,
    describe_configs,
    fetch,
    init_producer_id,
    list_offsets,
    metadata,
    produce,
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
    ]
)
