"""AlterConfigs and IncrementalAlterConfigs, as Kafka's ConfigurationControlManager decides
them: which ConfigRecords to write, and each resource's answer.

A TOPIC resource's new overrides are checked as the log will read them (a bad name or value:
INVALID_CONFIG with the reason) before the topic's existence (UNKNOWN_TOPIC_OR_PARTITION), in
Kafka's order. A BROKER resource is the cluster-wide default (named "") or one broker (its
id); only the settings ``broker.config.DYNAMIC_BROKER_CONFIGS`` lists may be set, and a refused
one gets INVALID_REQUEST, as Kafka answers (KAFKA-13609). APPEND and SUBTRACT apply to LIST
settings only. The legacy AlterConfigs (``replace``) makes the given settings the resource's
whole set: every override it leaves out is deleted. Each resource is answered on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from kio.schema.errors import ErrorCode

from broker.config import BROKER_LOG_SYNONYMS, ConfigError, check_dynamic_broker_configs
from broker.controller.result import ControllerResult
from broker.metadata.image import MetadataImage
from broker.metadata.records import ConfigRecord, ConfigResourceType
from broker.metadata.topics import TopicError, validate_topic_name
from broker.storage.config import SPECS_BY_NAME, LogConfig


class OpType(IntEnum):
    """Kafka's ``AlterConfigOp.OpType`` codes."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


@dataclass(frozen=True, slots=True)
class ConfigOp:
    """One setting of a resource to change (``value`` is ignored by DELETE)."""

    name: str
    op: int
    value: str | None


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """The changes to one resource; ``replace`` (AlterConfigs): the SET ops are its whole
    new set of overrides."""

    resource_type: int
    resource_name: str
    ops: tuple[ConfigOp, ...]
    replace: bool = False


@dataclass(frozen=True, slots=True)
class ConfigAnswer:
    """One resource's answer."""

    resource_type: int
    resource_name: str
    error_code: ErrorCode
    message: str | None = None


def alter_configs(
    image: MetadataImage, changes: Sequence[ConfigChange]
) -> ControllerResult[list[ConfigAnswer]]:
    """The records that carry out ``changes`` (the refused ones left out), and the answers."""
    counts = Counter((change.resource_type, change.resource_name) for change in changes)
    records: list[ConfigRecord] = []
    answers = []
    for change in changes:
        try:
            if counts[(change.resource_type, change.resource_name)] > 1:
                raise TopicError(
                    ErrorCode.invalid_request, "Each resource must appear at most once."
                )
            records += _alter_one(image, change)
        except TopicError as refused:
            answers.append(_answer(change, refused.code, str(refused)))
            continue
        answers.append(_answer(change, ErrorCode.none))
    return ControllerResult(tuple(records), answers)


def _answer(change: ConfigChange, code: ErrorCode, message: str | None = None) -> ConfigAnswer:
    return ConfigAnswer(change.resource_type, change.resource_name, code, message)


def _alter_one(image: MetadataImage, change: ConfigChange) -> list[ConfigRecord]:
    names = [op.name for op in change.ops]
    if len(set(names)) != len(names):
        raise TopicError(ErrorCode.invalid_request, "Error due to duplicate config keys")
    missing = [op.name for op in change.ops if op.op != OpType.DELETE and op.value is None]
    if missing:
        raise TopicError(
            ErrorCode.invalid_request, f"Null value not supported for : {', '.join(missing)}"
        )
    unknown_ops = [op.op for op in change.ops if op.op not in OpType._value2member_map_]
    if unknown_ops:
        raise TopicError(ErrorCode.invalid_request, f"Unknown operations type {unknown_ops[0]}")
    if change.resource_type == ConfigResourceType.TOPIC:
        return _alter_topic(image, change)
    if change.resource_type == ConfigResourceType.BROKER:
        return _alter_broker(image, change)
    raise TopicError(ErrorCode.invalid_request, f"Unknown resource type {change.resource_type}")


def _alter_topic(image: MetadataImage, change: ConfigChange) -> list[ConfigRecord]:
    name = change.resource_name
    if not name:
        raise TopicError(ErrorCode.invalid_request, "Default topic resources are not allowed.")
    validate_topic_name(name)
    current = image.topic_config(name)
    wanted = _new_values(current, change, list_default=_topic_list_default)
    try:
        LogConfig.from_properties(wanted)
    except ValueError as error:
        raise TopicError(ErrorCode.invalid_config, str(error)) from None
    if name not in image.topics:
        raise TopicError(
            ErrorCode.unknown_topic_or_partition, f"The topic '{name}' does not exist."
        )
    return _records(ConfigResourceType.TOPIC, name, current, wanted)


def _alter_broker(image: MetadataImage, change: ConfigChange) -> list[ConfigRecord]:
    name = change.resource_name
    if name:
        try:
            broker_id = int(name)
        except ValueError:
            raise TopicError(
                ErrorCode.invalid_request, "Unable to parse broker name as a base 10 number."
            ) from None
        if broker_id < 0:
            raise TopicError(ErrorCode.invalid_request, "Invalid negative broker ID.")
    current = image.configs.get((ConfigResourceType.BROKER, name), {})
    wanted = _new_values(current, change, list_default=_broker_list_default)
    changed = {key: value for key, value in wanted.items() if current.get(key) != value}
    try:
        check_dynamic_broker_configs(changed)
    except ConfigError as error:
        raise TopicError(ErrorCode.invalid_request, str(error)) from None
    return _records(ConfigResourceType.BROKER, name, current, wanted)


def _topic_list_default(name: str) -> str | None:
    """Kafka's default of a LIST topic setting (None: not a LIST)."""
    spec = SPECS_BY_NAME.get(name)
    return spec.format(spec.default) if spec is not None and spec.kafka_type == "LIST" else None


def _broker_list_default(name: str) -> str | None:
    """Kafka's default of a LIST dynamic broker setting (None: not a LIST)."""
    topic_name = BROKER_LOG_SYNONYMS.get(name)
    return None if topic_name is None else _topic_list_default(topic_name)


def _new_values(
    current: Mapping[str, str],
    change: ConfigChange,
    *,
    list_default: Callable[[str], str | None],
) -> dict[str, str]:
    """The resource's overrides once ``change`` is applied to ``current``. APPEND and
    SUBTRACT start from Kafka's default when the setting is not overridden, as Kafka's do."""
    if change.replace:
        return {op.name: op.value for op in change.ops if op.value is not None}
    values = dict(current)
    for op in change.ops:
        if op.op == OpType.SET:
            assert op.value is not None
            values[op.name] = op.value
        elif op.op == OpType.DELETE:
            values.pop(op.name, None)
        else:
            kind = OpType(op.op).name
            default = list_default(op.name)
            if default is None:
                raise TopicError(
                    ErrorCode.invalid_config,
                    f"Can't {kind} to key {op.name} because its type is not LIST.",
                )
            parts = [p for p in values.get(op.name, default).split(",") if p]
            given = [p.strip() for p in (op.value or "").split(",")]
            if op.op == OpType.APPEND:
                parts += [p for p in given if p and p not in parts]
            else:
                parts = [p for p in parts if p not in given]
            values[op.name] = ",".join(parts)
    return values


def _records(
    resource_type: ConfigResourceType,
    name: str,
    current: Mapping[str, str],
    wanted: Mapping[str, str],
) -> list[ConfigRecord]:
    """A ConfigRecord for every setting whose value changes (None: removed)."""
    return [
        ConfigRecord(resource_type, name, key, wanted.get(key))
        for key in sorted(set(current) | set(wanted))
        if current.get(key) != wanted.get(key)
    ]
