"""Cron arithmetic: fields, macros, timezones and daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xene.api.cron import MACROS, CronSchedule, ScheduleError


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_five_minutes_next_and_latest() -> None:
    schedule = CronSchedule.parse("*/5 * * * *")
    assert schedule.next_after(at("2024-01-01T10:07:30")) == at("2024-01-01T10:10:00")
    assert schedule.next_after(at("2024-01-01T10:10:00")) == at("2024-01-01T10:15:00")
    assert schedule.latest_at_or_before(at("2024-01-01T10:07:30")) == at("2024-01-01T10:05:00")
    assert schedule.latest_at_or_before(at("2024-01-01T10:10:00")) == at("2024-01-01T10:10:00")


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@hourly", "2024-05-15T11:00:00"),
        ("@daily", "2024-05-16T00:00:00"),
        ("@midnight", "2024-05-16T00:00:00"),
        ("@weekly", "2024-05-19T00:00:00"),  # the next Sunday
        ("@monthly", "2024-06-01T00:00:00"),
        ("@yearly", "2025-01-01T00:00:00"),
        ("@annually", "2025-01-01T00:00:00"),
        ("@HOURLY", "2024-05-15T11:00:00"),
    ],
)
def test_macros(macro: str, expected: str) -> None:
    assert CronSchedule.parse(macro).next_after(at("2024-05-15T10:20:00")) == at(expected)
    assert macro.lower() in MACROS


def test_timezone_follows_daylight_saving() -> None:
    schedule = CronSchedule.parse("0 9 * * *", "Europe/Berlin")
    # 09:00 in Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
    assert schedule.next_after(at("2024-01-10T12:00:00")) == at("2024-01-11T08:00:00")
    assert schedule.next_after(at("2024-07-10T12:00:00")) == at("2024-07-11T07:00:00")
    # Across the switch on 2024-03-31.
    assert schedule.next_after(at("2024-03-30T12:00:00")) == at("2024-03-31T07:00:00")


def test_results_are_utc() -> None:
    tick = CronSchedule.parse("30 2 * * *", "America/New_York").next_after(
        at("2024-02-01T00:00:00")
    )
    assert tick.tzinfo is UTC and tick == at("2024-02-01T07:30:00")


def test_ticks_between_counts_strictly_inside() -> None:
    schedule = CronSchedule.parse("* * * * *")
    assert schedule.ticks_between(at("2024-01-01T10:00:00"), at("2024-01-01T10:05:00")) == 4


def test_seconds_field_for_tests() -> None:
    schedule = CronSchedule.parse("* * * * * */2")
    assert schedule.next_after(at("2024-01-01T10:00:00.5")) == at("2024-01-01T10:00:02")


@pytest.mark.parametrize(
    ("schedule", "timezone", "message"),
    [
        ("61 * * * *", None, "not a valid cron schedule"),
        ("@sometimes", None, "not a valid cron schedule"),
        ("* * * * *", "Mars/Olympus", "not an IANA timezone"),
    ],
)
def test_bad_schedules_say_what_is_wrong(schedule: str, timezone: str | None, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        CronSchedule.parse(schedule, timezone)
