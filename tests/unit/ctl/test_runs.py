"""xenectl's run commands against an in-memory API: naming, parameters, --wait, logs, report."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from xene.api.errors import Invalid
from xene.ctl.commands.run import wait_for_run
from xene.ctl.connection import ServerConnection
from xene.ctl.main import cli
from xene.ctl.reports import ReportFilter, report_table
from xene.ctl.runs import (
    ProgressLines,
    parse_parameters,
    parse_pipeline,
    parse_run,
    run_selector,
    task_rows,
)

NOW = datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)


def run_object(
    number: int = 1,
    phase: str = "Pending",
    tasks: dict[str, Any] | None = None,
    trigger: str = "manual",
    **labels: str,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "tasks": tasks or {}}
    if phase != "Pending":
        status["startedAt"] = "2024-05-01T10:00:00Z"
    if phase in ("Succeeded", "Failed", "Cancelled"):
        status["finishedAt"] = "2024-05-01T10:00:12Z"
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": f"wf.build.{number}",
            "labels": {"xene.dev/pipeline": "wf.build", **labels},
            "annotations": {},
        },
        "spec": {
            "workflow": "wf",
            "pipeline": "build",
            "number": number,
            "trigger": {"type": trigger},
        },
        "status": status,
    }


def task(phase: str, *steps: tuple[str, str, int | None], message: str | None = None) -> dict:
    entry: dict[str, Any] = {
        "phase": phase,
        "attempt": 1,
        "steps": [{"name": n, "state": s, "exitCode": c} for n, s, c in steps],
    }
    if phase in ("Running", "Succeeded", "Failed"):
        entry["startedAt"] = "2024-05-01T10:00:01Z"
    if phase in ("Succeeded", "Failed"):
        entry["finishedAt"] = "2024-05-01T10:00:05Z"
    if message:
        entry["message"] = message
    return entry


# ---- naming and parameters -----------------------------------------------------------------------


def test_pipelines_and_runs_are_named_several_ways() -> None:
    assert parse_pipeline("hello/build").object_name == "hello.build"
    assert parse_pipeline("hello.build").object_name == "hello.build"
    assert parse_run("hello.build.7") == (parse_pipeline("hello/build"), 7)
    assert parse_run("hello/build/7") == (parse_pipeline("hello/build"), 7)
    assert parse_run("hello/build", 3) == (parse_pipeline("hello/build"), 3)
    assert parse_run("hello/build") == (parse_pipeline("hello/build"), None)
    with pytest.raises(Invalid, match="'hello' is not WORKFLOW/PIPELINE"):
        parse_pipeline("hello")
    with pytest.raises(Invalid, match="already names run 7"):
        parse_run("hello.build.7", 8)
    with pytest.raises(Invalid, match="workflow 'Hello' is not a valid name"):
        parse_pipeline("Hello/build")


def test_parameters_are_key_value_with_variable_names() -> None:
    assert parse_parameters(["A=1", "B=x=y", "EMPTY="]) == {"A": "1", "B": "x=y", "EMPTY": ""}
    with pytest.raises(Invalid) as caught:
        parse_parameters(["novalue", "1X=2"])
    assert [str(e) for e in caught.value.errors] == [
        "-p: 'novalue' is not key=value",
        "-p: '1X' is not an environment variable name: use letters, digits and '_', "
        "not starting with a digit",
    ]


def test_run_filters_become_label_selectors() -> None:
    assert run_selector(None, None) is None
    assert run_selector("wf", None) == "xene.dev/workflow=wf"
    assert run_selector(None, "wf/build") == "xene.dev/pipeline=wf.build"
    assert run_selector("wf", "build") == "xene.dev/pipeline=wf.build"
    with pytest.raises(Invalid, match="WORKFLOW/PIPELINE"):
        run_selector(None, "build")


# ---- progress ----------------------------------------------------------------------------------


def test_progress_lines_say_only_what_changed() -> None:
    pipeline = {"spec": {"tasks": {"b": {"dependencies": ["a"]}, "a": {}}}}
    progress = ProgressLines()
    waiting = run_object(1, "Running", {"b": task("Waiting"), "a": task("Running")})
    assert progress.changes(waiting, pipeline, NOW) == [
        "run wf.build.1: Running",
        "task a: Running",
        "task b: Waiting",
    ]
    assert progress.changes(waiting, pipeline, NOW) == []
    done = run_object(
        1,
        "Failed",
        {
            "a": task("Failed", ("unit", "Error", 2), message="step 'unit' exited with 2"),
            "b": task("Skipped", message="dependency 'a' failed"),
        },
    )
    assert progress.changes(done, pipeline, NOW) == [
        "run wf.build.1: Failed",
        "task a: Failed (4s): step 'unit' exited with 2",
        "  step a/unit: Error (exit 2)",
        "task b: Skipped: dependency 'a' failed",
    ]


def test_task_rows_follow_the_dag_with_step_marks() -> None:
    pipeline = {"spec": {"tasks": {"test": {"dependencies": ["fetch"]}, "fetch": {}}}}
    run = run_object(
        1,
        "Running",
        {
            "test": task("Running", ("unit", "Running", None), ("lint", "NotExecuted", None)),
            "fetch": task("Succeeded", ("get", "Success", 0)),
        },
    )
    assert task_rows(run, pipeline, NOW) == [
        ["fetch", "Succeeded", "4s", "get ✓", "<none>"],
        ["test", "Running", "29s", "unit … lint ·", "fetch"],
    ]


# ---- commands against a scripted API -----------------------------------------------------------


class ScriptedApi:
    """Answers run requests; GET of a run walks through `states` one call at a time."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.gets = 0
        self.requests: list[httpx.Request] = []
        self.log_text = ""

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path.endswith("/runs"):
            return httpx.Response(201, json=self.states[0])
        if path == "/api/v1/pipelineruns":
            return httpx.Response(
                200, json={"kind": "PipelineRunList", "metadata": {}, "items": self.states}
            )
        if path.endswith("/logs"):
            return httpx.Response(200, text=self.log_text)
        if path.startswith("/api/v1/pipelines/"):
            return httpx.Response(
                404, json={"kind": "Status", "code": 404, "reason": "NotFound", "message": "x"}
            )
        if path.startswith("/api/v1/pipelineruns/"):
            state = self.states[min(self.gets, len(self.states) - 1)]
            self.gets += 1
            return httpx.Response(200, json=state)
        return httpx.Response(404, json={"kind": "Status", "code": 404, "message": path})


def invoke(api: ScriptedApi) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        connection = ServerConnection(transport=httpx.MockTransport(api.handle))
        return CliRunner().invoke(cli, list(args), obj=connection)

    return run


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("xene.ctl.commands.run.POLL_SECONDS", 0)


def test_run_wait_prints_progress_and_exits_0_on_success() -> None:
    api = ScriptedApi(
        [
            run_object(1, "Pending"),
            run_object(1, "Running", {"main": task("Running", ("s", "Running", None))}),
            run_object(1, "Succeeded", {"main": task("Succeeded", ("s", "Success", 0))}),
        ]
    )
    result = invoke(api)("run", "wf/build", "-p", "A=1", "--wait")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "run wf.build.1: Pending"
    assert "task main: Running" in lines
    assert "  step main/s: Success (exit 0)" in lines
    assert lines[-1] == "run wf.build.1 Succeeded in 12s"
    posted = next(r for r in api.requests if r.method == "POST")
    assert posted.url.path == "/api/v1/pipelines/wf.build/runs"
    assert json.loads(posted.content) == {"parameters": {"A": "1"}}


def test_run_wait_exits_3_and_names_the_failed_task() -> None:
    failed = run_object(
        2, "Failed", {"main": task("Failed", ("s", "Error", 3), message="step 's' exited with 3")}
    )
    result = invoke(ScriptedApi([run_object(2), failed]))("run", "wf/build", "--wait")
    assert result.exit_code == 3
    assert "run wf.build.2 Failed in 12s" in result.stdout
    assert "  main: Failed: step 's' exited with 3" in result.stdout
    assert "  see: xenectl logs wf/build --run 2" in result.stdout


def test_logs_default_to_the_latest_run() -> None:
    api = ScriptedApi([run_object(1, "Succeeded"), run_object(3, "Running"), run_object(2)])
    api.log_text = "[main/s] hello\n"
    result = invoke(api)("logs", "wf/build", "--task", "main", "-f")
    assert result.exit_code == 0, result.output
    assert result.stdout == "[main/s] hello\n"
    logs_request = next(r for r in api.requests if r.url.path.endswith("/logs"))
    assert logs_request.url.path == "/api/v1/pipelineruns/wf.build.3/logs"
    assert dict(logs_request.url.params) == {"task": "main", "follow": "true"}


def test_local_only_flags_are_refused_for_server_runs() -> None:
    result = invoke(ScriptedApi([run_object()]))("run", "wf/build", "--executor", "process")
    assert result.exit_code == 1
    assert "--executor: only with --local" in result.stderr


# ---- reports -----------------------------------------------------------------------------------


def local_report(number: int, phase: str, tasks: dict[str, Any]) -> dict[str, Any]:
    report = run_object(number, phase, tasks, trigger="local")
    report["metadata"]["annotations"] = {"xene.dev/source": "local"}
    return report


def test_report_filters_by_status_task_and_run() -> None:
    good = local_report(1, "Succeeded", {"fetch": task("Succeeded"), "test": task("Succeeded")})
    bad = local_report(2, "Failed", {"fetch": task("Succeeded"), "test": task("Failed")})
    assert ReportFilter(status="failed").matches(bad)
    assert not ReportFilter(status="failed").matches(good)
    assert ReportFilter(task="test", status="Failed").matches(bad)
    assert not ReportFilter(task="fetch", status="Failed").matches(bad)
    assert not ReportFilter(task="deploy").matches(good)
    assert ReportFilter(pipeline="wf/build", run=2).matches(bad)
    assert ReportFilter(pipeline="build", workflow="wf").matches(bad)
    assert not ReportFilter(workflow="other").matches(bad)

    table = report_table([bad], NOW, task="test")
    assert table.headers[-3:] == ["TASK", "TASK STATUS", "TASK TIME"]
    assert table.rows == [
        ["local", "wf/build", "2", "Failed", "local", "30s", "12s", "test", "Failed", "4s"]
    ]


def test_report_command_lists_local_reports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XENE_REPORTS_DIR", str(tmp_path))
    good = local_report(1, "Succeeded", {"test": task("Succeeded", ("unit", "Success", 0))})
    bad = local_report(2, "Failed", {"test": task("Failed", ("unit", "Error", 1))})
    (tmp_path / "wf.build.1.json").write_text(json.dumps(good))
    (tmp_path / "wf.build.2.json").write_text(json.dumps(bad))
    (tmp_path / "wf.build.3.json").write_text("{}\n")  # a run still going
    run = invoke(ScriptedApi([]))
    listed = run("report", "--source", "local")
    assert listed.exit_code == 0, listed.output
    assert [line.split()[2:4] for line in listed.stdout.splitlines()[1:]] == [
        ["2", "Failed"],
        ["1", "Succeeded"],
    ]
    failed = run("report", "--source", "local", "--status", "Failed", "--run", "2")
    assert failed.exit_code == 0, failed.output
    assert "unit:  Error (exit 1)" in failed.stdout
    none = run("report", "--source", "local", "--task", "deploy")
    assert none.exit_code == 0 and none.stderr == "No reports found.\n"


def test_live_view_on_a_terminal_ends_with_the_finished_run() -> None:
    states = [
        run_object(1, "Running", {"main": task("Running", ("s", "Running", None))}),
        run_object(1, "Succeeded", {"main": task("Succeeded", ("s", "Success", 0))}),
    ]

    class Client:
        calls = 0

        def get(self, plural: str, name: str) -> dict[str, Any]:
            if plural == "pipelines":
                return {"spec": {"tasks": {"main": {}}}}
            Client.calls += 1
            return states[min(Client.calls, len(states) - 1)]

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    finished = wait_for_run(Client(), states[0], console)  # type: ignore[arg-type]
    assert finished["status"]["phase"] == "Succeeded"
    text = screen.getvalue()
    assert "TASK" in text and "STATE" in text and "s ✓" in text
    assert "wf.build.1  Succeeded  12s" in text
