"""One log format for every chirpstream service: timestamped lines on stderr."""

from __future__ import annotations

import logging
import sys

LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
