"""Table cells and ages, computed at a fixed moment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xene.ctl.ages import precise_duration, short_duration, until
from xene.ctl.tables import build_table, render_plain, sort_objects

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (5, "5s"),
        (59, "59s"),
        (60, "1m"),
        (3 * 60 + 59, "3m"),
        (2 * 3600, "2h"),
        (4 * 86400 + 5, "4d"),
        (800 * 86400, "2y"),
        (-0.5, "0s"),
        (-30, "<invalid>"),
    ],
)
def test_short_duration_is_kubectls_age(seconds: float, shown: str) -> None:
    assert short_duration(seconds) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(42, "42s"), (200, "3m20s"), (180, "3m"), (7500, "2h5m"), (97200, "1d3h")],
)
def test_precise_duration_for_run_lengths(seconds: float, shown: str) -> None:
    assert precise_duration(seconds) == shown


def test_until_reads_both_ways() -> None:
    assert until("2024-05-01T12:02:00Z", NOW) == "in 2m"
    assert until("2024-05-01T11:59:00Z", NOW) == "1m ago"
    assert until(None, NOW) == "<none>"


def run(number: int, phase: str, started: str | None, finished: str | None = None) -> dict:
    return {
        "kind": "PipelineRun",
        "metadata": {"name": f"hello.build.{number}"},
        "spec": {
            "workflow": "hello",
            "pipeline": "build",
            "number": number,
            "trigger": {"type": "cron", "name": "every-5-min"},
        },
        "status": {"phase": phase, "startedAt": started, "finishedAt": finished},
    }


def test_runs_sort_by_number_and_show_trigger_and_duration() -> None:
    runs = [
        run(10, "Running", "2024-05-01T11:58:30Z"),
        run(9, "Succeeded", "2024-05-01T11:00:00Z", "2024-05-01T11:03:20Z"),
        run(11, "Pending", None),
    ]
    table = build_table("pipelineruns", sort_objects("pipelineruns", runs), NOW)
    assert table.headers == [
        "NAME",
        "PIPELINE",
        "RUN",
        "PHASE",
        "TRIGGER",
        "STARTED",
        "DURATION",
    ]
    assert table.rows == [
        ["hello.build.9", "hello.build", "9", "Succeeded", "cron/every-5-min", "1h", "3m20s"],
        ["hello.build.10", "hello.build", "10", "Running", "cron/every-5-min", "1m", "1m30s"],
        ["hello.build.11", "hello.build", "11", "Pending", "cron/every-5-min", "<none>", "<none>"],
    ]


def test_agent_and_trigger_columns() -> None:
    agent = {
        "metadata": {
            "name": "a1",
            "labels": {"os": "linux", "zone": "b"},
            "creationTimestamp": "2024-05-01T10:00:00Z",
        },
        "spec": {"capacity": 4},
        "status": {
            "phase": "Ready",
            "pipelines": ["x.y", "x.z"],
            "lastHeartbeat": "2024-05-01T11:59:57Z",
        },
    }
    assert build_table("agents", [agent], NOW).rows == [
        ["a1", "Ready", "4", "2", "os=linux,zone=b", "3s", "2h"],
    ]
    trigger = {
        "metadata": {"name": "hello.on-push", "creationTimestamp": "2024-05-01T11:00:00Z"},
        "spec": {"type": "webhook", "pipelines": ["build", "lint"], "workflow": "hello"},
        "status": {},
    }
    table = build_table("triggers", [trigger], NOW)
    assert table.headers == [
        "NAME",
        "TYPE",
        "SCHEDULE",
        "SUSPEND",
        "PIPELINES",
        "LAST",
        "NEXT",
        "AGE",
    ]
    assert table.rows == [
        ["hello.on-push", "webhook", "<none>", "false", "build,lint", "<none>", "<none>", "1h"],
    ]


def test_plain_rendering_pads_with_two_spaces_and_no_trailing_blanks() -> None:
    workflow = {"metadata": {"name": "a-long-name"}, "spec": {"pipelines": {"p": {}}}}
    text = render_plain(build_table("workflows", [workflow], NOW))
    assert text == (
        "NAME         PIPELINES  TRIGGERS  AGE\na-long-name  1          0         <none>\n"
    )
