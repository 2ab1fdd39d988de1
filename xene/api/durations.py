"""Durations written the way users write them: `90s`, `10m`, `1h30m`, `250ms`."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration string; raises ValueError naming the bad text."""
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    position = 0
    total = 0.0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value) or position == 0:
        raise ValueError(
            f"'{text}' is not a duration: use a number with a unit, e.g. 30s, 10m, 1h30m"
        )
    return total


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
"""A duration kept as the user wrote it (so apply round-trips), checked to parse."""


def format_duration(seconds: float) -> str:
    """`seconds` the way users write durations: 250ms, 45s, 1.5s, 10m, 1h30m, 2d."""
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    whole = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    rest = round(whole + seconds - int(seconds), 3)
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)
