"""``chirpstream``: one command with a verb per service."""

from __future__ import annotations

import argparse

from broker import main as broker_main
from consumers import main as analytics_main
from dashboard import main as dashboard_main
from ingest import main as ingest_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chirpstream", description="A live tweet stream through a Kafka-compatible broker."
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    broker_main.build_parser(
        verbs.add_parser("broker", help="run the bundled Kafka-compatible broker")
    )
    ingest_main.build_parser(verbs.add_parser("ingest", help="publish tweets to Kafka"))
    analytics_main.build_parser(
        verbs.add_parser("analytics", help="run the analytics workers (one consumer group)")
    )
    dashboard_main.build_parser(
        verbs.add_parser("dashboard", help="run the Streamlit dashboard and its collector")
    )
    args = parser.parse_args(argv)
    if args.verb == "broker":
        return broker_main.main(args=args)
    if args.verb == "ingest":
        return ingest_main.main(args=args)
    if args.verb == "analytics":
        return analytics_main.main(args=args)
    if args.verb == "dashboard":
        return dashboard_main.main(args=args)
    parser.error(f"unknown verb {args.verb}")
    return 2
