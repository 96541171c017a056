"""``chirpstream configs``: what ``kafka-configs.sh`` does for topics and brokers.

``--describe`` prints, as Kafka's ConfigCommand does, "Dynamic configs for topic T are:" (or
"All configs ..." with ``--all``, "Default configs for brokers in the cluster are:" with
``--entity-default``) and a line per setting, ``  name=value sensitive=false
synonyms={SOURCE:name=value, ...}``. ``--alter --add-config k=v,k2=[a,b] --delete-config k``
changes a topic with IncrementalAlterConfigs and a broker (or the cluster-wide default) with
AlterConfigs, from the dynamic configs it has, as Kafka's tool does; deleting a setting that is
not set is refused before anything is sent. Requests go over the wire with the broker's own
client (confluent-kafka cannot name the cluster-wide default resource): to the bootstrap
server, and a broker's own configs to that broker.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from kio.schema.alter_configs.v2 import request as legacy_alter
from kio.schema.describe_configs.v4 import request as describe
from kio.schema.errors import ErrorCode
from kio.schema.incremental_alter_configs.v1 import request as incremental
from kio.schema.metadata.v12.request import MetadataRequest
from kio.static.primitive import i8

from chirpstream.settings import DEFAULT_BOOTSTRAP
from chirpstream.tools.common import CliError, ask_once, reporting_errors

TOPIC, BROKER = 2, 4
SOURCES = {
    0: "UNKNOWN",
    1: "DYNAMIC_TOPIC_CONFIG",
    2: "DYNAMIC_BROKER_CONFIG",
    3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
    4: "STATIC_BROKER_CONFIG",
    5: "DEFAULT_CONFIG",
    6: "DYNAMIC_BROKER_LOGGER_CONFIG",
}
SET, DELETE = 0, 1
ENTITY_TYPES = {"topics": TOPIC, "brokers": BROKER}


def build_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-server",
        "--bootstrap-servers",
        dest="bootstrap_server",
        default=DEFAULT_BOOTSTRAP,
        metavar="HOST:PORT",
        help=f"a broker to talk to (default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument("--entity-type", choices=tuple(ENTITY_TYPES), help="topics or brokers")
    parser.add_argument("--entity-name", metavar="NAME", help="the topic name or broker id")
    parser.add_argument(
        "--entity-default", action="store_true", help="the brokers' cluster-wide default"
    )
    parser.add_argument("--topic", metavar="TOPIC", help="--entity-type topics --entity-name")
    parser.add_argument("--broker", metavar="ID", help="--entity-type brokers --entity-name")
    parser.add_argument(
        "--broker-defaults",
        action="store_true",
        help="--entity-type brokers --entity-default",
    )
    parser.add_argument("--describe", action="store_true", help="list the entity's configs")
    parser.add_argument("--alter", action="store_true", help="change the entity's configs")
    parser.add_argument("--all", action="store_true", help="with --describe: every config")
    parser.add_argument(
        "--add-config", metavar="K=V,K2=[A,B]", help="configs to set (a list value in [])"
    )
    parser.add_argument("--delete-config", metavar="K,K2", help="configs to remove")


@reporting_errors
def main(args: argparse.Namespace) -> int:
    resource_type, name = _entity(args)
    host, port = _address(args.bootstrap_server)
    if args.describe == args.alter:
        raise CliError("exactly one of --describe, --alter is needed")
    if args.describe:
        if args.add_config or args.delete_config:
            raise CliError("--add-config and --delete-config go with --alter")
        asyncio.run(_describe(host, port, resource_type, name, args.all))
        return 0
    if args.all:
        raise CliError("--all goes with --describe")
    if name is None:
        raise CliError("--alter needs --entity-name (or --entity-default for brokers)")
    added = parse_added(args.add_config or "")
    deleted = [key.strip() for key in (args.delete_config or "").split(",") if key.strip()]
    if not added and not deleted:
        raise CliError("--alter needs --add-config or --delete-config")
    asyncio.run(_alter(host, port, resource_type, name, added, deleted))
    if name:
        print(f"Completed updating config for {_singular(resource_type)} {name}.")
    else:
        print("Completed updating default config for brokers in the cluster.")
    return 0


def _entity(args: argparse.Namespace) -> tuple[int, str | None]:
    """The resource type and name the flags pick ("" is the default, None: all of them)."""
    chosen: list[tuple[int, str | None]] = []
    if args.entity_type is not None:
        if args.entity_name is not None and args.entity_default:
            raise CliError("give --entity-name or --entity-default, not both")
        if args.entity_default and args.entity_type != "brokers":
            raise CliError("--entity-default goes with --entity-type brokers")
        name = "" if args.entity_default else args.entity_name
        chosen.append((ENTITY_TYPES[args.entity_type], name))
    elif args.entity_name is not None or args.entity_default:
        raise CliError("--entity-name and --entity-default need --entity-type topics|brokers")
    if args.topic is not None:
        chosen.append((TOPIC, args.topic))
    if args.broker is not None:
        chosen.append((BROKER, args.broker))
    if args.broker_defaults:
        chosen.append((BROKER, ""))
    if len(chosen) != 1:
        raise CliError(
            "name one entity: --entity-type topics|brokers with --entity-name N or "
            "--entity-default (or --topic, --broker, --broker-defaults)"
        )
    resource_type, name = chosen[0]
    if resource_type == BROKER and name and not name.isdigit():
        raise CliError(
            f"The entity name for brokers must be a valid integer broker id, found: {name}"
        )
    return resource_type, name


def parse_added(text: str) -> dict[str, str]:
    """``--add-config``: ``k=v`` pairs split at commas outside ``[...]``, whose brackets
    hold a list value (``cleanup.policy=[compact,delete]``), as kafka-configs.sh reads it."""
    pairs: list[str] = []
    depth, current = 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            pairs.append(current)
            current = ""
        else:
            current += char
    pairs.append(current)
    added: dict[str, str] = {}
    for pair in (p.strip() for p in pairs):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--add-config expects k=v pairs separated by commas, got {pair!r}")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        added[key.strip()] = value
    return added


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.split(",")[0].strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--bootstrap-server {text!r} is not HOST:PORT")
    return host, int(port)


def _singular(resource_type: int) -> str:
    return "topic" if resource_type == TOPIC else "broker"


async def _send(host: str, port: int, request: Any) -> Any:
    return await ask_once(host, port, request, client_id="chirpstream-configs", node="the broker")


async def _metadata(host: str, port: int) -> Any:
    return await _send(
        host,
        port,
        MetadataRequest(
            topics=None,
            allow_auto_topic_creation=False,
            include_topic_authorized_operations=False,
        ),
    )


async def _broker_address(host: str, port: int, resource_type: int, name: str) -> tuple[str, int]:
    """Where a broker's own configs are asked for: that broker (others are the bootstrap)."""
    if resource_type != BROKER or not name:
        return host, port
    for broker in (await _metadata(host, port)).brokers:
        if str(broker.node_id) == name:
            return broker.host, broker.port
    raise CliError(f"broker {name} is not in the cluster")


async def _configs(host: str, port: int, resource_type: int, name: str) -> list[Any]:
    """The resource's configs, with synonyms, sorted by name."""
    host, port = await _broker_address(host, port, resource_type, name)
    request = describe.DescribeConfigsRequest(
        resources=(
            describe.DescribeConfigsResource(
                resource_type=i8(resource_type), resource_name=name, configuration_keys=None
            ),
        ),
        include_synonyms=True,
        include_documentation=False,
    )
    result = (await _send(host, port, request)).results[0]
    if result.error_code is not ErrorCode.none:
        raise CliError(result.error_message or result.error_code.name.upper())
    return sorted(result.configs, key=lambda entry: entry.name)


def _dynamic_source(resource_type: int, name: str) -> int:
    if resource_type == TOPIC:
        return 1
    return 2 if name else 3


async def _describe(
    host: str, port: int, resource_type: int, name: str | None, describe_all: bool
) -> None:
    if name is not None:
        names = [name]
    else:
        metadata = await _metadata(host, port)
        if resource_type == TOPIC:
            names = sorted(topic.name for topic in metadata.topics)
        else:
            names = [str(b.node_id) for b in sorted(metadata.brokers, key=lambda b: b.node_id)]
            names.append("")
    for entity in names:
        entries = await _configs(host, port, resource_type, entity)
        if resource_type == BROKER and not entity:
            print("Default configs for brokers in the cluster are:")
        else:
            shown = "All" if describe_all else "Dynamic"
            print(f"{shown} configs for {_singular(resource_type)} {entity} are:")
        wanted = _dynamic_source(resource_type, entity)
        for entry in entries:
            if not describe_all and entry.config_source != wanted:
                continue
            synonyms = ", ".join(
                f"{SOURCES.get(s.source, s.source)}:{s.name}={s.value}" for s in entry.synonyms
            )
            sensitive = str(entry.is_sensitive).lower()
            print(f"  {entry.name}={entry.value} sensitive={sensitive} synonyms={{{synonyms}}}")


async def _alter(
    host: str,
    port: int,
    resource_type: int,
    name: str,
    added: dict[str, str],
    deleted: list[str],
) -> None:
    wanted = _dynamic_source(resource_type, name)
    current = {
        entry.name: entry.value
        for entry in await _configs(host, port, resource_type, name)
        if entry.config_source == wanted
    }
    missing = [key for key in deleted if key not in current]
    if missing:
        raise CliError(f"Invalid config(s): {','.join(missing)}")
    target = await _broker_address(host, port, resource_type, name)
    if resource_type == TOPIC:
        ops = [(key, SET, value) for key, value in added.items()]
        ops += [(key, DELETE, None) for key in deleted]
        request: Any = incremental.IncrementalAlterConfigsRequest(
            resources=(
                incremental.AlterConfigsResource(
                    resource_type=i8(resource_type),
                    resource_name=name,
                    configs=tuple(
                        incremental.AlterableConfig(name=k, config_operation=i8(op), value=v)
                        for k, op, v in ops
                    ),
                ),
            ),
            validate_only=False,
        )
    else:  # Kafka's tool sends a broker's whole new dynamic set with AlterConfigs
        new = {key: value for key, value in current.items() if key not in deleted} | added
        request = legacy_alter.AlterConfigsRequest(
            resources=(
                legacy_alter.AlterConfigsResource(
                    resource_type=i8(resource_type),
                    resource_name=name,
                    configs=tuple(
                        legacy_alter.AlterableConfig(name=k, value=v) for k, v in new.items()
                    ),
                ),
            ),
            validate_only=False,
        )
    answer = (await _send(*target, request)).responses[0]
    if answer.error_code is not ErrorCode.none:
        raise CliError(answer.error_message or answer.error_code.name.upper())
