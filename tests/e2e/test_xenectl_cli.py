"""xenectl as a user runs it: the installed console script against a real xene-apiserver."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.e2e.helpers import EXAMPLES, REPO, eventually
from tests.fixtures.servers import console_script, make_apiserver

CYCLE = """\
apiVersion: xene.dev/v1
kind: Workflow
metadata:
  name: cycle
spec:
  pipelines:
    build:
      tasks:
        a:
          image: busybox:latest
          dependencies: [b]
          steps: [{name: s, run: "true"}]
        b:
          image: busybox:latest
          dependencies: [a]
          steps: [{name: s, run: "true"}]
"""


def xenectl(
    env: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the xenectl console script and wait for it."""
    return subprocess.run(
        [console_script("xenectl"), *args],
        env=env,
        cwd=REPO,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_apply_get_describe_delete(apiserver) -> None:
    hello = str(EXAMPLES / "hello.yaml")
    created = xenectl(apiserver.env, "apply", "-f", hello)
    assert created.returncode == 0, created.stderr
    assert created.stdout == "workflow.xene.dev/hello created\n"
    again = xenectl(apiserver.env, "apply", "-f", hello)
    assert again.stdout == "workflow.xene.dev/hello unchanged\n"

    def pipeline_listed() -> str:
        result = xenectl(apiserver.env, "get", "pipelines")
        assert result.returncode == 0, result.stderr
        assert "hello.build" in result.stdout
        return result.stdout

    listing = eventually(pipeline_listed)
    header, *rows = listing.splitlines()
    assert header.split()[:3] == ["NAME", "WORKFLOW", "STATUS"]
    assert "\x1b[" not in listing  # a pipe gets plain text
    assert rows[0].split()[:2] == ["hello.build", "hello"]

    as_json = xenectl(apiserver.env, "get", "workflows", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    parsed = json.loads(as_json.stdout)
    assert [item["metadata"]["name"] for item in parsed["items"]] == ["hello"]

    described = xenectl(apiserver.env, "describe", "workflow", "hello")
    assert described.returncode == 0, described.stderr
    for expected in ("Name:", "hello", "Triggers:", "every-5-min", "Pipelines:", "checkout"):
        assert expected in described.stdout
    pipeline = xenectl(apiserver.env, "describe", "pl", "hello.build")
    assert pipeline.returncode == 0, pipeline.stderr
    assert "Depends On:" in pipeline.stdout and "Placement:" in pipeline.stdout

    deleted = xenectl(apiserver.env, "delete", "workflow", "hello")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == "workflow.xene.dev/hello deleted\n"
    gone = xenectl(apiserver.env, "get", "workflow", "hello")
    assert gone.returncode == 1
    assert gone.stderr.startswith("error:") and "hello" in gone.stderr

    def pipelines_removed() -> bool:
        result = xenectl(apiserver.env, "get", "pipelines", "-o", "name")
        assert "hello.build" not in result.stdout
        return True

    eventually(pipelines_removed)


def test_apply_of_a_cycle_is_refused_with_the_field_path(apiserver, tmp_path: Path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text(CYCLE)
    result = xenectl(apiserver.env, "apply", "-f", str(path))
    assert result.returncode == 1
    assert "spec.pipelines.build.tasks" in result.stderr
    assert "cycle" in result.stderr
    assert "Traceback" not in result.stderr
    listed = xenectl(apiserver.env, "get", "workflows")
    assert listed.stdout == ""
    assert listed.stderr == "No resources found.\n"


def test_malformed_stdin_and_unknown_kind_are_user_errors(apiserver) -> None:
    malformed = xenectl(apiserver.env, "apply", "-f", "-", input="kind: Workflow\n bad: [\n")
    assert malformed.returncode == 1
    assert malformed.stderr.startswith("<stdin>: line ")
    unknown = xenectl(apiserver.env, "get", "gizmos")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: unknown kind 'gizmos'")


def test_watch_prints_an_applied_workflow(apiserver) -> None:
    watcher = subprocess.Popen(
        [console_script("xenectl"), "get", "workflows", "--watch"],
        env=apiserver.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        # After the (empty) list the watch starts from its revision, so nothing applied from
        # here on can be missed.
        assert watcher.stderr is not None
        assert watcher.stderr.readline() == "No resources found.\n"
        applied = xenectl(apiserver.env, "apply", "-f", str(EXAMPLES / "hello.yaml"))
        assert applied.returncode == 0, applied.stderr
        seen: list[str] = []
        deadline = time.monotonic() + 15
        while not any(line.startswith("hello ") for line in seen):
            seen.append(lines.get(timeout=max(deadline - time.monotonic(), 0.1)))
        assert seen[0].split() == ["NAME", "PIPELINES", "TRIGGERS", "AGE"]
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        reader.join(timeout=5)


def test_version_reports_both_sides(apiserver) -> None:
    result = xenectl(apiserver.env, "version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Client Version: 0.1.0", "Server Version: 0.1.0"]


def test_unreachable_server_exits_2_with_what_to_do(tmp_path: Path) -> None:
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XENE_")}
    env["HOME"] = str(tmp_path)
    env["XENE_SERVER"] = f"127.0.0.1:{port}"
    result = xenectl(env, "get", "workflows")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: cannot reach the Xene API server at http://127.0.0.1:{port} (connection refused)."
        " Is xene-apiserver running? Set --server, XENE_SERVER or ~/.xene/config.\n"
    )


def test_token_from_the_config_file(etcd_server, tmp_path: Path) -> None:
    server = make_apiserver(tmp_path, etcd_server.endpoint, "--api-token", "s3cret-token")
    server.start()
    try:
        refused = xenectl(server.env, "get", "workflows")
        assert refused.returncode == 1
        assert "XENE_TOKEN" in refused.stderr

        config = tmp_path / "xenectl.yaml"
        env = {**server.env, "XENECTL_CONFIG": str(config)}
        del env["XENE_SERVER"]
        address = server.url.removeprefix("http://")
        assert xenectl(env, "config", "set-server", address).returncode == 0
        set_token = xenectl(env, "config", "set-token", input="s3cret-token\n")
        assert set_token.returncode == 0, set_token.stderr
        accepted = xenectl(env, "get", "workflows")
        assert accepted.returncode == 0, accepted.stderr
        view = xenectl(env, "config", "view")
        assert "s3cret" not in view.stdout
        assert f"server: {server.url}  (from {config})" in view.stdout
    finally:
        server.stop()


def test_every_kind_and_alias_lists(apiserver) -> None:
    for kind in ("workflows", "workflow", "wf", "pl", "triggers", "tr", "agents", "ag", "runs"):
        result = xenectl(apiserver.env, "get", kind)
        assert result.returncode == 0, (kind, result.stderr)
