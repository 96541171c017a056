"""``chirpstream VERB ...``: a verb per service, and Kafka's own tools as verbs.

Only the chosen verb's module is imported, so ``chirpstream topics --list`` starts as fast as
the Kafka client allows instead of loading Streamlit and pandas first. Every verb's module has
``build_parser(parser)`` and ``main(args=...)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

VERBS: dict[str, tuple[str, str]] = {
    "up": ("chirpstream.up", "start the whole pipeline on this machine"),
    "broker": ("broker.main", "run the bundled Kafka-compatible broker"),
    "cluster": ("chirpstream.cluster", "run a local cluster of bundled brokers"),
    "ingest": ("ingest.main", "publish tweets to Kafka"),
    "analytics": ("consumers.main", "run the analytics workers (one consumer group)"),
    "dashboard": ("dashboard.main", "run the Streamlit dashboard and its collector"),
    "topics": ("chirpstream.tools.topics", "create, list, describe, alter, delete topics"),
    "produce": ("chirpstream.tools.produce", "send stdin lines to a topic"),
    "consume": ("chirpstream.tools.consume", "print a topic's messages"),
    "groups": (
        "chirpstream.tools.groups",
        "list, describe, reset consumer groups and delete their offsets",
    ),
    "delete-records": (
        "chirpstream.tools.delete_records",
        "delete a partition's records below an offset",
    ),
    "configs": ("chirpstream.tools.configs", "describe and alter topic and broker configs"),
    "quorum": ("chirpstream.tools.quorum", "describe the controller quorum (KRaft)"),
    "brokers": ("chirpstream.tools.brokers", "list the brokers: state, controller, leaderships"),
    "workers": ("chirpstream.workers", "list, add and remove the analytics workers `up` runs"),
    "leader-election": (
        "chirpstream.tools.leader_election",
        "elect partition leaders (preferred or unclean)",
    ),
}


class OneLineParser(argparse.ArgumentParser):
    """A bad flag is one ``error:`` line saying where to look, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _top_parser() -> argparse.ArgumentParser:
    width = max(map(len, VERBS))
    listing = "\n".join(f"  {verb:<{width}}  {summary}" for verb, (_, summary) in VERBS.items())
    parser = OneLineParser(
        prog="chirpstream",
        description="A live tweet stream through a Kafka-compatible broker.",
        epilog=f"verbs:\n{listing}\n\nchirpstream VERB --help tells more.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("verb", choices=VERBS, metavar="VERB")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    chosen = _top_parser().parse_args(argv)
    module_name, summary = VERBS[chosen.verb]
    module = importlib.import_module(module_name)
    parser = OneLineParser(prog=f"chirpstream {chosen.verb}", description=summary)
    module.build_parser(parser)
    return module.main(args=parser.parse_args(chosen.arguments))


if __name__ == "__main__":
    sys.exit(main())
