"""`unknown task 'chekout': did you mean 'checkout'?`: the closest known name for a typo."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`: did you mean 'x'?` for the closest of `choices`, or "" when none is close."""
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f": did you mean '{matches[0]}'?" if matches else ""


def unknown(what: str, value: str, choices: Iterable[str], advice: str = "") -> str:
    """`unknown task 'x'` with the closest known name when one is close, else the advice."""
    suggestion = did_you_mean(value, choices)
    if suggestion or not advice:
        return f"unknown {what} '{value}'{suggestion}"
    return f"unknown {what} '{value}' ({advice})"
