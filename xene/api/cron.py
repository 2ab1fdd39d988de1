"""Cron schedules: what a trigger may say (`cron_schedule_problem`, `timezone_problem`, used by
validation) and when it fires (`CronSchedule`, used by the agent's cron controller).

5-field expressions and `@hourly`-style macros in an IANA timezone. Times in and out are
timezone-aware; the results are in UTC. Ticks are computed in the trigger's timezone so
`0 9 * * *` with `timezone: Europe/Berlin` fires at 09:00 Berlin time all year.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import CroniterBadDateError, CroniterError, croniter

from xene.api.suggestions import unknown

# Spelled out so the accepted macros do not depend on the croniter version.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_JUST_AFTER = timedelta(microseconds=1)
_HASHED_FIELD = re.compile(r"\bH\b")
# Any fixed instant works: the check only asks whether the schedule ever fires.
_PROBE_START = 946684800.0  # 2000-01-01T00:00:00Z


def cron_schedule_problem(schedule: str) -> str | None:
    """Why `schedule` is not a 5-field cron expression or macro Xene runs, or None when it is."""
    text = schedule.strip()
    if not text:
        return "must not be empty: use 5 fields (minute hour day-of-month month day-of-week)"
    if text.startswith("@"):
        if text.lower() in MACROS:
            return None
        return unknown("macro", text, MACROS, f"known macros are {', '.join(MACROS)}")
    fields = text.split()
    if len(fields) in (6, 7):
        return (
            f"'{schedule}' has {len(fields)} fields: Xene schedules have 5 (minute hour "
            "day-of-month month day-of-week); seconds and years are not supported"
        )
    if len(fields) != 5:
        return (
            f"'{schedule}' has {len(fields)} field{'s' if len(fields) != 1 else ''}: a cron "
            "schedule has 5 (minute hour day-of-month month day-of-week)"
        )
    if _HASHED_FIELD.search(text):
        return f"'{schedule}' uses 'H' (hashed) fields, which are not supported"
    try:
        croniter(text, _PROBE_START).get_next(float)
    except CroniterBadDateError:
        return f"'{schedule}' never fires: no date matches it"
    except (CroniterError, ValueError, KeyError, IndexError, TypeError) as exc:
        return f"'{schedule}' is not a valid cron schedule ({exc})"
    return None


def timezone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone such as Europe/Paris, or None when it is one."""
    try:
        zoneinfo.ZoneInfo(name)
        return None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    return unknown(
        "time zone", name, _time_zone_names(), "use an IANA name such as Europe/Paris or UTC"
    )


@functools.cache
def _time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


class ScheduleError(ValueError):
    """A schedule or timezone that cannot be run; the message names what is wrong."""


@dataclass(frozen=True)
class CronSchedule:
    """When a cron trigger fires."""

    expression: str
    zone: tzinfo

    @classmethod
    def parse(cls, schedule: str, timezone: str | None = None) -> CronSchedule:
        """A schedule from its text and optional IANA timezone name (UTC when None)."""
        text = " ".join(schedule.split())
        expression = MACROS.get(text.lower(), text)
        zone: tzinfo = UTC
        if timezone:
            try:
                zone = zoneinfo.ZoneInfo(timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ScheduleError(f"'{timezone}' is not an IANA timezone name") from None
        parsed = cls(expression, zone)
        try:
            parsed.next_after(datetime(2000, 1, 1, tzinfo=UTC))
        except (CroniterError, CroniterBadDateError, ValueError, KeyError, IndexError) as exc:
            raise ScheduleError(f"'{schedule}' is not a valid cron schedule ({exc})") from None
        return parsed

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after `moment`."""
        local = moment.astimezone(self.zone)
        return _utc(croniter(self.expression, local).get_next(datetime))

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last tick at or before `moment`."""
        local = (moment + _JUST_AFTER).astimezone(self.zone)
        return _utc(croniter(self.expression, local).get_prev(datetime))

    def ticks_between(self, start: datetime, end: datetime, limit: int = 10_000) -> int:
        """How many ticks lie strictly after `start` and strictly before `end` (capped)."""
        count = 0
        tick = self.next_after(start)
        while tick < end and count < limit:
            count += 1
            tick = self.next_after(tick)
        return count


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
