"""Client settings every command shares, spelled the way Kafka's own tools spell them.

``--bootstrap-servers HOST:PORT``, ``--command-config FILE`` (a Java properties file of client
settings, e.g. SASL/TLS) and ``-X key=value`` (repeatable, librdkafka's spelling) all end up in
one dict handed to the confluent-kafka client. Later sources win: the file, then ``-X`` in order,
then ``--bootstrap-servers`` if it was given explicitly. Services pass the same flags on to the
processes they start (``forwarded``), so secrets stay in the file, off every command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chirpstream.settings import DEFAULT_BOOTSTRAP


class ConfigError(Exception):
    """A bad --command-config file or -X setting; the message is one line for the user."""


def add_client_arguments(
    parser: argparse.ArgumentParser, bootstrap_help: str | None = None
) -> None:
    """Add --bootstrap-servers, --command-config and -X to a verb's parser."""
    parser.add_argument(
        "--bootstrap-servers",
        "--bootstrap-server",
        dest="bootstrap_servers",
        default=None,
        metavar="HOST:PORT",
        help=bootstrap_help or f"the Kafka cluster to talk to (default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--command-config",
        "--consumer.config",
        "--producer.config",
        dest="command_config",
        default=None,
        metavar="FILE",
        help="Java properties file of client settings (key=value lines, # comments)",
    )
    parser.add_argument(
        "-X",
        dest="client_settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a client setting passed to librdkafka, e.g. -X security.protocol=SASL_SSL "
        "(repeatable; wins over --command-config)",
    )


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(nxt, nxt))
    return "".join(out)


def _split_property(line: str) -> tuple[str, str]:
    """Split a properties line at the first unescaped ``=``, ``:`` or whitespace."""
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=: \t\f":
            break
        index += 1
    key, rest = line[:index], line[index:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return _unescape(key), _unescape(rest)


def parse_properties(text: str, source: str = "<properties>") -> dict[str, str]:
    """Parse Java properties: ``key=value`` / ``key: value`` lines, ``#``/``!`` comments,
    blank lines, and backslash line continuations."""
    result: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.lstrip(" \t\f")
        if not logical and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            logical += line[:-1]
            continue
        logical += line
        key, value = _split_property(logical)
        logical = ""
        if not key:
            raise ConfigError(f"{source}: a line has no key")
        result[key] = value
    if logical:
        key, value = _split_property(logical)
        result[key] = value
    return result


def parse_setting(text: str) -> tuple[str, str]:
    """``key=value`` from -X or --config; raises ConfigError without ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"expected key=value, got {text!r}")
    return key.strip(), value


def load_command_config(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read --command-config {path}: {exc.strerror}") from None
    return parse_properties(text, source=path)


def forwarded(args: argparse.Namespace, bootstrap: str | None = None) -> list[str]:
    """The client flags of ``args`` again, for a child process that takes the same flags."""
    flags = ["--bootstrap-servers", bootstrap or client_config(args)["bootstrap.servers"]]
    if getattr(args, "command_config", None):
        flags += ["--command-config", str(Path(args.command_config).resolve())]
    for setting in getattr(args, "client_settings", None) or ():
        flags += ["-X", setting]
    return flags


def service_config(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """``(bootstrap servers, the other client settings)`` for a service's clients."""
    config = client_config(args)
    return config.pop("bootstrap.servers"), config


def client_config(args: argparse.Namespace) -> dict[str, str]:
    """The librdkafka settings for this invocation, ``bootstrap.servers`` included."""
    config: dict[str, str] = {"bootstrap.servers": DEFAULT_BOOTSTRAP}
    if getattr(args, "command_config", None):
        config.update(load_command_config(args.command_config))
    for setting in getattr(args, "client_settings", None) or ():
        key, value = parse_setting(setting)
        config[key] = value
    if getattr(args, "bootstrap_servers", None):
        config["bootstrap.servers"] = args.bootstrap_servers
    return config
