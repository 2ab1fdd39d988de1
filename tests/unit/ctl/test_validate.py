"""`xenectl validate`: offline checks, one `FILE: path: message` line per problem."""

from __future__ import annotations

from pathlib import Path

from tests.unit.ctl.fake_api import FakeApiServer
from tests.unit.ctl.manifests import CYCLE, HELLO, MALFORMED, TWO_DOCUMENTS, write


def test_a_valid_file_is_summarised(xenectl, tmp_path: Path, fake_api: FakeApiServer) -> None:
    path = write(tmp_path, "hello.yaml", HELLO)
    result = xenectl("validate", "-f", str(path))
    assert result.exit_code == 0, result.output
    assert (
        result.stdout == f"{path}: workflow 'hello' is valid (2 pipelines, 3 tasks, 2 triggers)\n"
    )
    assert fake_api.requests == []  # offline: the server is never asked


def test_a_cycle_is_reported_with_its_path(xenectl, tmp_path: Path) -> None:
    path = write(tmp_path, "cycle.yaml", CYCLE)
    result = xenectl("validate", "-f", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines
    assert all(line.startswith(f"{path}: spec.pipelines.build.tasks") for line in lines)
    assert any("cycle" in line and "a -> b -> a" in line for line in lines)
    assert result.stdout == ""


def test_unknown_dependency_names_the_field(xenectl, tmp_path: Path) -> None:
    path = write(
        tmp_path, "typo.yaml", HELLO.replace("dependencies: [checkout]", "dependencies: [chekout]")
    )
    result = xenectl("validate", "-f", str(path))
    assert result.exit_code == 1
    assert (
        f"{path}: spec.pipelines.build.tasks.test.dependencies[0]: unknown task 'chekout'"
        in result.stderr
    )


def test_malformed_yaml_gives_the_line(xenectl, tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", MALFORMED)
    result = xenectl("validate", "-f", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}: line 5, column 2: ")
    assert "Traceback" not in result.output


def test_a_directory_is_read_in_name_order_and_every_problem_shown(xenectl, tmp_path: Path) -> None:
    write(tmp_path, "b-hello.yml", HELLO)
    write(tmp_path, "a-broken.yaml", MALFORMED)
    write(tmp_path, "c-both.json", '{"not": "a workflow"}')
    write(tmp_path, "notes.txt", "not a manifest")
    result = xenectl("validate", "-f", str(tmp_path))
    assert result.exit_code == 1
    summary = "workflow 'hello' is valid (2 pipelines, 3 tasks, 2 triggers)"
    assert result.stdout == f"{tmp_path / 'b-hello.yml'}: {summary}\n"
    assert result.stderr.startswith(f"{tmp_path / 'a-broken.yaml'}: line 5")
    assert f"{tmp_path / 'c-both.json'}: " in result.stderr
    assert "notes.txt" not in result.output


def test_stdin_and_multiple_documents(xenectl) -> None:
    result = xenectl("validate", "-f", "-", input=TWO_DOCUMENTS)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "<stdin>: workflow 'first' is valid (2 pipelines, 3 tasks, 2 triggers)",
        "<stdin>: workflow 'second' is valid (2 pipelines, 3 tasks, 2 triggers)",
    ]


def test_missing_file_and_empty_file(xenectl, tmp_path: Path) -> None:
    missing = xenectl("validate", "-f", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 1
    assert missing.stderr == f"{tmp_path / 'nope.yaml'}: no such file or directory\n"
    empty = write(tmp_path, "empty.yaml", "# nothing\n")
    result = xenectl("validate", "-f", str(empty))
    assert result.exit_code == 1
    assert result.stderr == f"{empty}: holds no documents\n"


def test_a_file_over_one_mebibyte_is_refused_unread(xenectl, tmp_path: Path) -> None:
    big = write(tmp_path, "big.yaml", "# " + "x" * (1 << 20) + "\n")
    result = xenectl("validate", "-f", str(big))
    assert result.exit_code == 1
    assert f"{big}: is {big.stat().st_size} bytes, more than the limit" in result.stderr
