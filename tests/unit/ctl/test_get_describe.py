"""`xenectl get`, `describe` and `version`: tables for people, plain columns for pipes."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta

import yaml

from tests.unit.ctl.fake_api import FakeApiServer, pipeline_object, status, workflow_object

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(fake: FakeApiServer) -> None:
    hello = workflow_object("hello", pipelines=2, triggers=1)
    hello["metadata"]["creationTimestamp"] = ago(minutes=3, seconds=5)
    fake.add("workflows", hello)
    build = pipeline_object("hello.build")
    build["metadata"]["creationTimestamp"] = ago(hours=2, minutes=1)
    fake.add("pipelines", build)
    lint = pipeline_object("hello.lint", phase="NotScheduled", agent=None)
    lint["status"]["reason"] = "NoMatchingAgent"
    lint["metadata"]["creationTimestamp"] = ago(days=4, hours=1)
    fake.add("pipelines", lint)


def test_plain_table_when_stdout_is_not_a_terminal(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    result = xenectl("get", "pipelines")
    assert result.exit_code == 0, result.output
    assert not ANSI.search(result.stdout)
    lines = result.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "NAME",
        "WORKFLOW",
        "STATUS",
        "AGENT",
        "TASKS",
        "TRIGGERS",
        "AGE",
    ]
    assert re.split(r"\s{2,}", lines[1]) == [
        "hello.build",
        "hello",
        "Scheduled",
        "agent-1",
        "2",
        "every-5-min",
        "2h",
    ]
    assert re.split(r"\s{2,}", lines[2]) == [
        "hello.lint",
        "hello",
        "NotScheduled",
        "<none>",
        "2",
        "every-5-min",
        "4d",
    ]
    # Columns line up: every column starts at the same offset on every line.
    starts = [line.index("hello", 5) for line in lines[1:]]
    assert lines[0].index("WORKFLOW") == starts[0] == starts[1]


def test_wide_adds_executor_selector_reason(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    lines = xenectl("get", "pl", "-o", "wide").stdout.splitlines()
    assert lines[0].split()[-3:] == ["EXECUTOR", "SELECTOR", "REASON"]
    assert lines[2].split()[-3:] == ["docker", "os=linux", "NoMatchingAgent"]


def test_workflow_columns_and_age(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    lines = xenectl("get", "wf").stdout.splitlines()
    assert lines[0].split() == ["NAME", "PIPELINES", "TRIGGERS", "AGE"]
    assert lines[1].split() == ["hello", "2", "1", "3m"]


def test_rich_table_with_coloured_phases_on_a_terminal(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    result = xenectl("get", "pipelines", env={"FORCE_COLOR": "1"})
    assert result.exit_code == 0
    assert "\x1b[32mScheduled" in result.stdout  # green
    assert "\x1b[31mNotScheduled" in result.stdout  # red
    assert "\x1b[1mNAME" in result.stdout  # bold header
    plain = ANSI.sub("", result.stdout)
    assert "hello.build" in plain and "agent-1" in plain


def test_no_color_is_respected_on_a_terminal(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    result = xenectl("get", "pipelines", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "hello.build" in result.stdout
    assert "\x1b[3" not in result.stdout


def test_get_one_by_name_and_by_kind_slash_name(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    for args in (("pipeline", "hello.build"), ("pl/hello.build",)):
        lines = xenectl("get", *args).stdout.splitlines()
        assert len(lines) == 2
        assert lines[1].startswith("hello.build ")


def test_output_json_yaml_and_name(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    listed = json.loads(xenectl("get", "pipelines", "-o", "json").stdout)
    assert listed["kind"] == "List"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["hello.build", "hello.lint"]
    one = yaml.safe_load(xenectl("get", "wf", "hello", "-o", "yaml").stdout)
    assert one["kind"] == "Workflow" and one["metadata"]["name"] == "hello"
    names = xenectl("get", "pipelines", "-o", "name").stdout
    assert names == "pipeline.xene.dev/hello.build\npipeline.xene.dev/hello.lint\n"


def test_label_selector_is_passed_to_the_server(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    fake_api.objects["workflows"]["hello"]["metadata"]["labels"] = {"team": "a"}
    assert "hello" in xenectl("get", "wf", "-l", "team=a").stdout
    result = xenectl("get", "wf", "-l", "team=b")
    assert result.stdout == ""
    assert result.stderr == "No resources found.\n"
    assert fake_api.requests[-1].url.params["labelSelector"] == "team=b"


def test_empty_list_says_so_on_stderr(xenectl) -> None:
    result = xenectl("get", "agents")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "No resources found.\n"


def test_unknown_kind_is_a_user_error(xenectl, fake_api: FakeApiServer) -> None:
    result = xenectl("get", "gizmos")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown kind 'gizmos'")
    assert "workflows" in result.stderr
    assert fake_api.requests == []


def test_missing_object_is_a_user_error(xenectl) -> None:
    result = xenectl("get", "wf", "nope")
    assert result.exit_code == 1
    assert result.stderr == "error: workflow 'nope' not found\n"


def test_usage_errors_exit_1_not_2(xenectl) -> None:
    result = xenectl("get")
    assert result.exit_code == 1
    assert "Missing argument 'KIND[,KIND...] [NAME...]'" in result.stderr
    assert xenectl("get", "wf", "-o", "xml").exit_code == 1


def test_watch_prints_rows_as_changes_arrive(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    changed = pipeline_object("hello.lint", phase="Scheduled", agent="agent-2")
    other = pipeline_object("other.build")
    fake_api.watch_lines = [
        {"type": "MODIFIED", "object": changed},
        {"type": "ADDED", "object": other},
    ]
    result = xenectl("get", "pipelines", "-w")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("NAME")
    assert [line.split()[0] for line in lines[1:]] == [
        "hello.build",
        "hello.lint",
        "hello.lint",
        "other.build",
    ]
    assert lines[3].split()[2:4] == ["Scheduled", "agent-2"]
    assert fake_api.requests[-1].url.params["resourceVersion"] == "100"

    only = xenectl("get", "pipelines", "hello.lint", "-w")
    assert [line.split()[0] for line in only.stdout.splitlines()[1:]] == ["hello.lint"] * 2


def test_watch_that_expires_tells_what_happened(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.watch_lines = [{"type": "ERROR", "object": status(410, "Gone", "revision compacted")}]
    result = xenectl("get", "wf", "-w")
    assert result.exit_code == 1
    assert "revision compacted" in result.stderr


def test_describe_pipeline_shows_tasks_in_dependency_order_and_placement(
    xenectl, fake_api: FakeApiServer
) -> None:
    seed(fake_api)
    result = xenectl("describe", "pipeline", "hello.build")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert re.search(r"^Name:\s+hello.build$", text, re.M)
    assert re.search(r"^Owned By:\s+Workflow/hello$", text, re.M)
    assert re.search(r"^Agent Selector:\s+os=linux$", text, re.M)
    assert text.index("\n  checkout:\n") < text.index("\n  test:\n")  # checkout runs first
    assert re.search(r"^    Depends On:\s+checkout$", text, re.M)
    assert re.search(r"^Placement:\n  Status:\s+Scheduled\n  Agent:\s+agent-1$", text, re.M)


def test_describe_workflow_includes_placement_of_its_pipelines(
    xenectl, fake_api: FakeApiServer
) -> None:
    seed(fake_api)
    tasks = pipeline_object("hello.build")["spec"]["tasks"]
    fake_api.objects["workflows"]["hello"]["spec"]["pipelines"] = {
        "build": {"triggers": ["t0"], "tasks": tasks},
        "lint": {"tasks": tasks},
    }
    result = xenectl("describe", "wf", "hello")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert re.search(
        r"^Triggers:\n  t0:\n    Type:\s+cron\n    Schedule:\s+\*/5 \* \* \* \*$", text, re.M
    )
    assert re.search(r"^  build:\n    Executor:\s+docker", text, re.M)
    assert re.search(
        r"Placement:\n      Status:\s+NotScheduled\n      Agent:\s+<none>\n"
        r"      Reason:\s+NoMatchingAgent",
        text,
    )


def test_describe_needs_a_name(xenectl) -> None:
    result = xenectl("describe", "wf")
    assert result.exit_code == 1
    assert "describe needs a NAME" in result.stderr


def test_version_shows_client_and_server(xenectl) -> None:
    result = xenectl("version")
    assert result.stdout == "Client Version: 0.1.0\nServer Version: 0.1.0\n"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_exits_2_with_what_to_do(xenectl) -> None:
    from click.testing import CliRunner

    from xene.ctl.main import cli

    port = closed_port()
    result = CliRunner().invoke(cli, ["--server", f"127.0.0.1:{port}", "get", "workflows"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot reach the Xene API server at http://127.0.0.1:{port} (connection refused)."
        " Is xene-apiserver running? Set --server, XENE_SERVER or ~/.xene/config.\n"
    )
    version = CliRunner().invoke(cli, ["version"], env={"XENE_SERVER": f"127.0.0.1:{port}"})
    assert version.exit_code == 2
    assert version.stdout == "Client Version: 0.1.0\n"


def test_server_unavailable_exits_2(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.fail_with = status(503, "Unavailable", "etcd is unreachable")
    result = xenectl("get", "wf")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: the Xene API server is unavailable: etcd is unreachable"
    )


def test_rejected_token_says_where_to_set_one(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.fail_with = status(401, "Unauthenticated", "a bearer token is required")
    result = xenectl("get", "wf")
    assert result.exit_code == 1
    assert "a bearer token is required" in result.stderr
    assert "XENE_TOKEN" in result.stderr


def test_a_narrow_terminal_never_truncates_cells(xenectl, fake_api: FakeApiServer) -> None:
    seed(fake_api)
    result = xenectl("get", "pl", "-o", "wide", env={"FORCE_COLOR": "1", "COLUMNS": "30"})
    plain = ANSI.sub("", result.stdout)
    assert "…" not in plain
    assert "NoMatchingAgent" in plain
    assert re.split(r"\s{2,}", plain.splitlines()[2].strip())[:3] == [
        "hello.lint",
        "hello",
        "NotScheduled",
    ]


def test_no_arguments_prints_help_and_succeeds(xenectl) -> None:
    result = xenectl()
    assert result.exit_code == 0
    assert "Commands:" in result.stdout
    assert "validate" in result.stdout
