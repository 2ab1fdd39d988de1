"""`xenectl apply` and `delete`: what they print, send and exit with."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.ctl.fake_api import FakeApiServer, pipeline_object, status, workflow_object
from tests.unit.ctl.manifests import HELLO, MALFORMED, TWO_DOCUMENTS, write


def test_apply_prints_created_then_unchanged_then_configured(
    xenectl, tmp_path: Path, fake_api: FakeApiServer
) -> None:
    path = write(tmp_path, "hello.yaml", HELLO)
    assert xenectl("apply", "-f", str(path)).stdout == "workflow.xene.dev/hello created\n"
    assert xenectl("apply", "-f", str(path)).stdout == "workflow.xene.dev/hello unchanged\n"
    write(tmp_path, "hello.yaml", HELLO.replace("cat src.txt", "cat src.txt && echo ok"))
    result = xenectl("apply", "-f", str(path))
    assert result.exit_code == 0
    assert result.stdout == "workflow.xene.dev/hello configured\n"
    sent = fake_api.requests[-1]
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content)["metadata"] == {"name": "hello"}


def test_apply_reads_stdin_and_every_document(xenectl, fake_api: FakeApiServer) -> None:
    result = xenectl("apply", "-f", "-", input=TWO_DOCUMENTS)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "workflow.xene.dev/first created",
        "workflow.xene.dev/second created",
    ]


def test_malformed_yaml_stops_apply_before_the_server_is_asked(
    xenectl, tmp_path: Path, fake_api: FakeApiServer
) -> None:
    good = write(tmp_path, "a.yaml", HELLO)
    bad = write(tmp_path, "b.yaml", MALFORMED)
    result = xenectl("apply", "-f", str(good), "-f", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{bad}: line 5, column 2:")
    assert fake_api.requests == []


def test_server_side_invalid_prints_each_cause_and_exits_1(
    xenectl, tmp_path: Path, fake_api: FakeApiServer
) -> None:
    fake_api.rejections["hello"] = status(
        422,
        "Invalid",
        "2 problems",
        [
            {"field": "spec.pipelines.build.tasks", "message": "dependency cycle a -> b -> a"},
            {"field": "spec.triggers[0].schedule", "message": "not a cron expression"},
        ],
    )
    path = write(tmp_path, "hello.yaml", HELLO)
    result = xenectl("apply", "-f", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f'error: {path}: workflow "hello" is invalid:',
        "  spec.pipelines.build.tasks: dependency cycle a -> b -> a",
        "  spec.triggers[0].schedule: not a cron expression",
    ]


def test_one_rejected_document_does_not_stop_the_others(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.rejections["first"] = status(409, "Conflict", "workflow 'first' changed meanwhile")
    result = xenectl("apply", "-f", "-", input=TWO_DOCUMENTS)
    assert result.exit_code == 1
    assert result.stdout == "workflow.xene.dev/second created\n"
    assert result.stderr == (
        "error: <stdin>: workflow \"first\": workflow 'first' changed meanwhile\n"
    )


def test_apply_of_nothing_is_an_error(xenectl, tmp_path: Path) -> None:
    path = write(tmp_path, "empty.yaml", "---\n")
    result = xenectl("apply", "-f", str(path))
    assert result.exit_code == 1
    assert "no objects found" in result.stderr


def test_delete_by_name(xenectl, fake_api: FakeApiServer) -> None:
    fake_api.add("workflows", workflow_object("hello"))
    result = xenectl("delete", "workflow", "hello")
    assert result.exit_code == 0, result.output
    assert result.stdout == "workflow.xene.dev/hello deleted\n"
    assert fake_api.requests[-1].method == "DELETE"
    again = xenectl("delete", "wf/hello")
    assert again.exit_code == 1
    assert again.stderr == "error: workflow 'hello' not found\n"
    assert xenectl("delete", "wf", "hello", "--ignore-not-found").exit_code == 0


def test_delete_by_file(xenectl, tmp_path: Path, fake_api: FakeApiServer) -> None:
    fake_api.add("workflows", workflow_object("hello"))
    path = write(tmp_path, "hello.yaml", HELLO)
    result = xenectl("delete", "-f", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "workflow.xene.dev/hello deleted\n"


def test_deleting_a_derived_object_shows_the_server_reason(
    xenectl, fake_api: FakeApiServer
) -> None:
    fake_api.add("pipelines", pipeline_object("hello.build"))
    result = xenectl("delete", "pl", "hello.build")
    assert result.exit_code == 1
    assert result.stderr == "error: cannot delete pipeline 'hello.build': pipelines are read-only\n"


def test_delete_needs_a_name(xenectl) -> None:
    result = xenectl("delete", "workflows")
    assert result.exit_code == 1
    assert "give the name" in result.output
