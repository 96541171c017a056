"""atheris harness: untrusted bytes through framing, request decoding and Produce's batch
checks (plan F1). Run by ``make fuzz``; seeds are real client frames in ``corpus/``.

    python -m tests.fuzz.fuzz_requests tests/fuzz/corpus -max_total_time=60

A crash is any exception other than the protocol's own errors, or an outcome that changes
with how the stream was split; libFuzzer writes the input to ``crash-*`` to replay it.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["broker", "tests.fuzz"]):
    from tests.fuzz.pipeline import split_agree


def one_input(data: bytes) -> None:
    # The first two bytes choose where to cut the rest; byte by byte only for short inputs.
    cuts = list(data[:2])
    split_agree(data[2:], cuts, bytewise=len(data) < 512)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
