"""DescribeConfigs (32): a topic's effective settings, or a broker's, with their source.

Each value comes from the strongest layer that sets it, and ``config_source`` names that
layer as Kafka does: a topic's override (DYNAMIC_TOPIC_CONFIG), this broker's dynamic config
(DYNAMIC_BROKER_CONFIG), the cluster-wide dynamic default (DYNAMIC_DEFAULT_BROKER_CONFIG),
the properties file or command line (STATIC_BROKER_CONFIG), or Kafka's default
(DEFAULT_CONFIG). With ``include_synonyms`` every layer that sets it is listed, strongest
first, under its own name (a topic's ``retention.ms`` is the brokers' ``log.retention.ms``);
with ``include_documentation`` each entry carries its documentation. The broker's own answer
lists every setting in use, ``listeners`` and ``advertised.listeners`` with the port actually
bound; only the dynamic ones are not read-only. The cluster-wide default resource (named "")
lists the dynamic defaults set, as Kafka's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.config import (
    BROKER_SETTINGS,
    DYNAMIC_BROKER_CONFIGS,
    TOPIC_SYNONYMS,
    BrokerConfig,
    default_synonym,
)
from broker.metadata.image import MetadataImage
from broker.metadata.records import ConfigResourceType
from broker.metadata.topics import broker_log_defaults, log_config
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request
from broker.storage.config import SPECS_BY_NAME, LogConfig

if TYPE_CHECKING:
    from broker.net.context import Context

TOPIC = ConfigResourceType.TOPIC
BROKER = ConfigResourceType.BROKER
# Kafka's ConfigSource and ConfigType values.
DYNAMIC_TOPIC_CONFIG = 1
DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5
CONFIG_TYPES = {"BOOLEAN": 1, "STRING": 2, "INT": 3, "LONG": 5, "DOUBLE": 6, "LIST": 7}
_BROKER_SPECS = {spec.name: spec for spec in BROKER_SETTINGS} | {
    broker_name: SPECS_BY_NAME[topic_name] for topic_name, broker_name in TOPIC_SYNONYMS.items()
}
Layer = tuple[int, str, str]  # (source, name, value)


def _dynamic_layers(image: MetadataImage, node_id: int) -> tuple[Mapping[str, str], ...]:
    """This broker's dynamic configs, then the cluster-wide defaults (the strongest first).
    Only settings that may be dynamic: as Kafka's brokers do, any other stored there is
    ignored (``auto.leader.rebalance.enable`` was dynamic once, and may be stored)."""
    return tuple(
        {k: v for k, v in image.configs.get((BROKER, name), {}).items()
         if k in DYNAMIC_BROKER_CONFIGS}
        for name in (str(node_id), "")
    )  # fmt: skip


def _entry(
    name: str,
    value: str,
    layers: list[Layer],
    kafka_type: str,
    doc: str | None,
    *,
    read_only: bool,
    synonyms: bool,
) -> dict:
    """One answer entry: its source is the strongest of ``layers`` (DEFAULT_CONFIG when
    none sets it), and they all are its synonyms when asked for."""
    return {
        "name": name,
        "value": value,
        "read_only": read_only,
        "config_source": layers[0][0] if layers else DEFAULT_CONFIG,
        "is_sensitive": False,
        "synonyms": [{"name": n, "value": v, "source": src} for src, n, v in layers]
        if synonyms
        else [],
        "config_type": CONFIG_TYPES[kafka_type],
        "documentation": doc,
    }  # fmt: skip


def topic_config_entries(
    context,
    overrides: Mapping[str, str],
    names=None,
    docs: bool = False,
    synonyms: bool = False,
    image: MetadataImage | None = None,
) -> list[dict]:
    """A topic's effective settings: its ``overrides`` over the dynamic broker configs of
    ``image`` (none when None) over this broker's static ones."""
    image = image or MetadataImage()
    static = context.config.log_defaults
    static_props, default_props = static.to_properties(), LogConfig().to_properties()
    per_broker, cluster = _dynamic_layers(image, context.config.node_id)
    effective = log_config(overrides, broker_log_defaults(image, context.config.node_id, static))
    entries = []
    for spec, value, _ in effective.describe():
        if names is not None and spec.name not in names:
            continue
        layers: list[Layer] = []
        if spec.name in overrides:
            layers.append((DYNAMIC_TOPIC_CONFIG, spec.name, overrides[spec.name]))
        broker_name = TOPIC_SYNONYMS.get(spec.name)
        if broker_name is not None:
            if broker_name in per_broker:
                layers.append((DYNAMIC_BROKER_CONFIG, broker_name, per_broker[broker_name]))
            if broker_name in cluster:
                layers.append((DYNAMIC_DEFAULT_BROKER_CONFIG, broker_name, cluster[broker_name]))
            if static_props[spec.name] != default_props[spec.name]:
                layers.append((STATIC_BROKER_CONFIG, broker_name, static_props[spec.name]))
        default = default_synonym(spec.name)
        if default is not None:
            layers.append((DEFAULT_CONFIG, *default))
        doc = spec.doc if docs else None
        entry = _entry(spec.name, value, layers, spec.kafka_type, doc,
                       read_only=False, synonyms=synonyms)  # fmt: skip
        entries.append(entry)
    return entries


def broker_settings(context: Context) -> dict[str, tuple[str, int]]:
    """Every static broker setting in use: its value and its source."""
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


def _broker_entries(
    context: Context, default_resource: bool, names, docs: bool, synonyms: bool
) -> list[dict]:
    per_broker, cluster = _dynamic_layers(context.metadata.image, context.config.node_id)
    defaults = BrokerConfig().describe()
    entries = []
    for name, (value, source) in broker_settings(context).items():
        if names is not None and name not in names:
            continue
        layers: list[Layer] = []
        if name in per_broker and not default_resource:
            layers.append((DYNAMIC_BROKER_CONFIG, name, per_broker[name]))
        if name in cluster:
            layers.append((DYNAMIC_DEFAULT_BROKER_CONFIG, name, cluster[name]))
        if default_resource and not layers:
            continue  # the default resource holds the dynamic defaults only
        if source == STATIC_BROKER_CONFIG:
            layers.append((STATIC_BROKER_CONFIG, name, value))
        if name in defaults:
            layers.append((DEFAULT_CONFIG, name, defaults[name]))
        spec = _BROKER_SPECS.get(name)
        dynamic = layers and layers[0][0] in (DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG)
        shown = layers[0][2] if dynamic else value
        entry = _entry(
            name,
            shown,
            layers,
            spec.kafka_type if spec is not None else "STRING",
            spec.doc if spec is not None and docs else None,
            read_only=name not in DYNAMIC_BROKER_CONFIGS,
            synonyms=synonyms,
        )
        entries.append(entry)
    return entries


def _describe(context: Context, resource, docs: bool, synonyms: bool) -> dict:
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
        configs = topic_config_entries(context, overrides, names, docs, synonyms, image)
        return {**result, "configs": configs}
    if resource.resource_type == BROKER and resource.resource_name in (
        "",
        str(context.config.node_id),
    ):
        default = resource.resource_name == ""
        return {**result, "configs": _broker_entries(context, default, names, docs, synonyms)}
    return {
        **result,
        "error_code": ErrorCode.invalid_request,
        "error_message": "only topic configs and this broker's configs can be described",
    }


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    docs = getattr(body, "include_documentation", False)
    synonyms = getattr(body, "include_synonyms", False)
    return {
        "throttle_time": 0,
        "results": [_describe(context, resource, docs, synonyms) for resource in body.resources],
    }


SPECS = [ApiSpec(32, "DescribeConfigs", 1, 4, handle)]
