"""`xene-agent`: the worker daemon."""

from __future__ import annotations

import sys


def main() -> None:
    """Not built yet: agents arrive with the agents issue."""
    print("xene-agent is not built yet; it arrives with agent support.", file=sys.stderr)
    sys.exit(1)
