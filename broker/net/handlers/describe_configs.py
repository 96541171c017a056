"""DescribeConfigs (32): a topic's effective settings with their source, and the broker's.

The broker's answer lists every setting in use under Kafka's names, ``listeners`` and
``advertised.listeners`` with the port actually bound, each marked STATIC_BROKER_CONFIG when
it differs from the default (set in the properties file or on the command line) and
DEFAULT_CONFIG otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.config import BrokerConfig
from broker.metadata.topics import log_config
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context

TOPIC = 2
BROKER = 4
# Kafka's ConfigSource and ConfigType values.
DYNAMIC_TOPIC_CONFIG = 1
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5
CONFIG_TYPES = {"BOOLEAN": 1, "STRING": 2, "INT": 3, "LONG": 5, "DOUBLE": 6, "LIST": 7}


def topic_config_entries(
    context: Context, overrides: Mapping[str, str], names=None, docs: bool = False
):
    """A topic's effective settings (``overrides`` over the broker's): overridden, set
    broker-wide, or Kafka's default."""
    defaults = context.config.log_defaults
    broker_defaults = defaults.to_properties()
    entries = []
    for spec, value, _ in log_config(overrides, defaults).describe():
        if names is not None and spec.name not in names:
            continue
        if spec.name in overrides:
            source = DYNAMIC_TOPIC_CONFIG
        elif broker_defaults[spec.name] != spec.format(spec.default):
            source = STATIC_BROKER_CONFIG
        else:
            source = DEFAULT_CONFIG
        entries.append(
            {
                "name": spec.name,
                "value": value,
                "read_only": False,
                "config_source": source,
                "is_sensitive": False,
                "synonyms": [],
                "config_type": CONFIG_TYPES[spec.kafka_type],
                "documentation": spec.doc if docs else None,
            }
        )
    return entries


def broker_settings(context: Context) -> dict[str, tuple[str, int]]:
    """Every broker setting in use: its value and its source."""
    config = context.config
    defaults = BrokerConfig().describe()
    settings = {
        name: (value, DEFAULT_CONFIG if defaults.get(name) == value else STATIC_BROKER_CONFIG)
        for name, value in config.describe().items()
    }
    _, listeners_source = settings["listeners"]
    settings["listeners"] = (f"PLAINTEXT://{config.host}:{context.port}", listeners_source)
    settings["advertised.listeners"] = (
        f"PLAINTEXT://{config.advertised}:{context.port}",
        STATIC_BROKER_CONFIG if config.advertised_host else DEFAULT_CONFIG,
    )
    return dict(sorted(settings.items()))


def _broker_entries(context: Context, names=None) -> list[dict]:
    return [
        {
            "name": name,
            "value": value,
            "read_only": True,
            "config_source": source,
            "is_sensitive": False,
            "synonyms": [],
            "config_type": CONFIG_TYPES["STRING"],
            "documentation": None,
        }
        for name, (value, source) in broker_settings(context).items()
        if names is None or name in names
    ]


def _describe(context: Context, resource, docs: bool) -> dict:
    names = set(resource.configuration_keys) if resource.configuration_keys else None
    result = {
        "resource_type": resource.resource_type,
        "resource_name": resource.resource_name,
        "error_code": ErrorCode.none,
        "error_message": None,
        "configs": [],
    }
    if resource.resource_type == TOPIC:
        image = context.metadata.image
        if resource.resource_name not in image.topics:
            return {
                **result,
                "error_code": ErrorCode.unknown_topic_or_partition,
                "error_message": f"topic {resource.resource_name!r} does not exist",
            }
        overrides = image.topic_config(resource.resource_name)
        return {**result, "configs": topic_config_entries(context, overrides, names, docs)}
    if resource.resource_type == BROKER and resource.resource_name in (
        "",
        str(context.config.node_id),
    ):
        return {**result, "configs": _broker_entries(context, names)}
    return {
        **result,
        "error_code": ErrorCode.invalid_request,
        "error_message": "only topic configs and this broker's configs can be described",
    }


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    docs = getattr(body, "include_documentation", False)
    return {
        "throttle_time": 0,
        "results": [_describe(context, resource, docs) for resource in body.resources],
    }


SPECS = [ApiSpec(32, "DescribeConfigs", 1, 4, handle)]
