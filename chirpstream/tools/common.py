"""What the Kafka-style verbs share: client settings, reaching the cluster, one-line errors."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, TopicMetadata

from broker.net.client import ClientError, KafkaClient
from chirpstream.client_config import ConfigError, client_config, parse_setting
from chirpstream.kafka import Unreachable

TIMEOUT_S = 15.0  # for one admin request, and for finding a broker at all


class CliError(Exception):
    """A failure to report as one ``error:`` line, exit code 1."""


async def ask_once(host: str, port: int, request: Any, *, client_id: str, node: str) -> Any:
    """One request over the broker's own wire client (for what confluent-kafka cannot send);
    a node that does not answer is a CliError naming ``node`` ("the controller", ...)."""
    client = KafkaClient(host, port, client_id=client_id)
    try:
        return await client.request(request, timeout_s=TIMEOUT_S)
    except ClientError as exc:
        raise CliError(f"cannot reach {node} at {host}:{port}: {exc}") from None
    finally:
        await client.close()


# Errors after which librdkafka will never get an answer, so waiting longer is pointless.
_FATAL = {
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError._AUTHENTICATION,
    KafkaError._SSL,
    KafkaError.SASL_AUTHENTICATION_FAILED,
}


class FatalErrors:
    """An ``error_cb`` that keeps the first error meaning no broker will ever answer."""

    def __init__(self) -> None:
        self.first: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        if error.code() in _FATAL and self.first is None:
            self.first = error

    def raise_if_any(self, bootstrap: str) -> None:
        if self.first is not None:
            raise unreachable(bootstrap, self.first.str())


# librdkafka's own log lines (connection refused, ...) would bury the one ``error:`` line; they
# go to a silent Python logger unless the user asks for them with -X debug=...
_LIBRDKAFKA_LOG = logging.getLogger("chirpstream.librdkafka")
_LIBRDKAFKA_LOG.addHandler(logging.NullHandler())
_LIBRDKAFKA_LOG.propagate = False


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """This invocation's librdkafka settings (file, -X, --bootstrap-servers)."""
    try:
        config: dict[str, Any] = dict(client_config(args))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if "debug" not in config:
        config["logger"] = _LIBRDKAFKA_LOG
    return config


def unreachable(bootstrap: str, detail: str) -> CliError:
    return CliError(str(Unreachable(bootstrap, detail)))


def client(factory: Callable[[dict[str, Any]], Any], config: dict[str, Any]) -> Any:
    """Build a confluent-kafka client; a bad setting is one line, not a traceback."""
    try:
        return factory(config)
    except (KafkaException, ValueError, TypeError) as exc:
        detail = exc.args[0].str() if isinstance(exc, KafkaException) else str(exc)
        raise CliError(f"bad client setting: {detail}") from None


def connect_admin(args: argparse.Namespace) -> tuple[AdminClient, ClusterMetadata]:
    """An AdminClient and the cluster metadata, failing fast when no broker answers."""
    config = settings(args)
    errors = FatalErrors()
    admin = client(AdminClient, {**config, "error_cb": errors})
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            return admin, admin.list_topics(timeout=0.5)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() not in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT):
                raise CliError(error.str()) from None
            admin.poll(0)
            errors.raise_if_any(config["bootstrap.servers"])
            if time.monotonic() > deadline:
                raise unreachable(config["bootstrap.servers"], error.str()) from None


def scratch_consumer(args: argparse.Namespace) -> Consumer:
    """A consumer that never joins a group, for watermarks and offsets-for-times."""
    group = f"chirpstream-tools-{uuid.uuid4().hex[:8]}"
    return client(Consumer, {**settings(args), "group.id": group})


def result(future: Any) -> Any:
    """Wait for an admin future; a Kafka error becomes one line."""
    try:
        return future.result(TIMEOUT_S)
    except KafkaException as exc:
        raise CliError(exc.args[0].str()) from None


def topic_metadata(metadata: ClusterMetadata, topic: str) -> TopicMetadata:
    meta = metadata.topics.get(topic)
    if meta is None or meta.error is not None:
        raise CliError(f"topic '{topic}' does not exist")
    return meta


def properties(pairs: Sequence[str]) -> dict[str, str]:
    """``--property key=value`` flags as a dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        try:
            key, value = parse_setting(pair)
        except ConfigError as exc:
            raise CliError(f"--property: {exc}") from None
        out[key] = value
    return out


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def separator(value: str) -> str:
    r"""A separator property with Java-style escapes (``\t``, ``\n``) decoded."""
    return value.encode().decode("unicode_escape") if "\\" in value else value


def add_property_argument(parser: argparse.ArgumentParser, names: str) -> None:
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE", help=names)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns padded to their widest cell; ``None`` shows as ``-``, as Kafka's tools do."""
    cells = [list(headers)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print(" ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def reporting_errors(
    main: Callable[[argparse.Namespace], int],
) -> Callable[..., int]:
    """Wrap a verb's main so every failure it knows of is one ``error:`` line, exit code 1."""

    def reported(args: argparse.Namespace) -> int:
        try:
            return main(args)
        except CliError as exc:
            print(f"error: {exc}", file=sys.stderr)
        except KafkaException as exc:
            print(f"error: {exc.args[0].str()}", file=sys.stderr)
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:  # `chirpstream consume ... | head` closed our stdout
            return 0
        return 1

    return reported
