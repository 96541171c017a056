"""How many examples a slow property test draws: a few in ``make test``, the full count in
``make chaos``.

``make test`` keeps every property checked on each run with a count that still explores (a
dozen or more random histories); ``make chaos`` sets ``CHIRPSTREAM_CHAOS=1`` and draws the
full count, as it runs more seeds of the reliability, Raft and cluster scenarios.
"""

from __future__ import annotations

import os


def examples(ci_count: int, chaos_count: int) -> int:
    """Hypothesis ``max_examples``: ``chaos_count`` under ``CHIRPSTREAM_CHAOS``, else
    ``ci_count``."""
    return chaos_count if os.environ.get("CHIRPSTREAM_CHAOS") else ci_count
