"""Timestamps shown the way kubectl shows them: `5s`, `3m`, `2h`, `4d` ago."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

NONE = "<none>"


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from the wire as an aware datetime; None if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short_duration(seconds: float) -> str:
    """kubectl's short form: the largest unit only (`45s`, `3m`, `2h`, `4d`, `2y`)."""
    if seconds < -1:
        return "<invalid>"
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h"
    if whole < 365 * 86400:
        return f"{whole // 86400}d"
    return f"{whole // (365 * 86400)}y"


def precise_duration(seconds: float) -> str:
    """Two units where it matters for a run's length: `45s`, `3m20s`, `2h5m`, `1d3h`."""
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if whole < 86400:
        hours, rest = divmod(whole, 3600)
        return f"{hours}h{rest // 60}m" if rest // 60 else f"{hours}h"
    days, rest = divmod(whole, 86400)
    return f"{days}d{rest // 3600}h" if rest // 3600 else f"{days}d"


def age(value: Any, now: datetime) -> str:
    """How long ago `value` was, short form; `<none>` when there is no timestamp."""
    moment = parse_timestamp(value)
    return NONE if moment is None else short_duration((now - moment).total_seconds())


def until(value: Any, now: datetime) -> str:
    """How long until `value` (`in 3m`), or how long ago if it has passed."""
    moment = parse_timestamp(value)
    if moment is None:
        return NONE
    seconds = (moment - now).total_seconds()
    return f"in {short_duration(seconds)}" if seconds >= 0 else f"{short_duration(-seconds)} ago"


def elapsed(start: Any, end: Any, now: datetime) -> str:
    """Time from `start` to `end` (or to now while unfinished); `<none>` before a start."""
    started = parse_timestamp(start)
    if started is None:
        return NONE
    finished = parse_timestamp(end) or now
    return precise_duration((finished - started).total_seconds())


def timestamp_with_age(value: Any, now: datetime) -> str:
    """`2024-05-01T10:00:00Z (3m ago)` for describe; `<none>` when absent."""
    moment = parse_timestamp(value)
    if moment is None:
        return NONE
    shown = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    delta = (now - moment).total_seconds()
    relative = f"{short_duration(delta)} ago" if delta >= 0 else f"in {short_duration(-delta)}"
    return f"{shown} ({relative})"
