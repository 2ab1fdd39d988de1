"""`xenectl get triggers`: schedule, last and next fire time, and the wide columns."""

from __future__ import annotations

from datetime import UTC, datetime

from xene.ctl.tables import build_table

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_cron_trigger_shows_schedule_last_and_next_fire() -> None:
    trigger = {
        "metadata": {"name": "hello.nightly", "creationTimestamp": "2024-04-01T12:00:00Z"},
        "spec": {
            "type": "cron",
            "schedule": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "concurrencyPolicy": "Forbid",
            "pipelines": ["hello.build"],
            "workflow": "hello",
        },
        "status": {
            "lastFireTime": "2024-05-01T11:55:00Z",
            "nextFireTime": "2024-05-01T12:05:00Z",
            "lastRun": "hello.build.7",
            "missedTicks": 2,
        },
    }
    narrow = build_table("triggers", [trigger], NOW)
    assert narrow.rows == [
        ["hello.nightly", "cron", "30 2 * * *", "false", "hello.build", "5m", "in 5m", "30d"],
    ]
    wide = build_table("triggers", [trigger], NOW, wide=True)
    row = dict(zip(wide.headers, wide.rows[0], strict=True))
    assert row["TIMEZONE"] == "Europe/Berlin"
    assert row["LAST-RUN"] == "hello.build.7"
    assert row["MISSED"] == "2"
    assert row["CONCURRENCY"] == "Forbid"
