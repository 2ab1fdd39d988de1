"""The main path end to end: apiserver + agent (process executor) + `xenectl run --wait`, then
`xenectl logs`, `runs` and `describe run` show what happened."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from tests.e2e.helpers import REPO
from tests.fixtures.agents import AgentProcess, apply_workflow, placements, wait_until
from tests.fixtures.servers import ApiServerProcess, console_script


def xenectl(server: ApiServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("xenectl"), *args],
        env=server.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )


def fan_out_workflow() -> dict[str, Any]:
    step = "echo {0} from $XENE_RUN_ID > {0}.txt && echo {0} wrote"
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "hello"},
        "spec": {
            "pipelines": {
                "build": {
                    "executor": "process",
                    "tasks": {
                        "a": {"steps": [{"name": "write", "run": step.format("a")}]},
                        "b": {"steps": [{"name": "write", "run": step.format("b")}]},
                        "join": {
                            "dependencies": ["a", "b"],
                            "steps": [{"name": "read", "run": "cat a.txt b.txt"}],
                        },
                    },
                },
                "broken": {
                    "executor": "process",
                    "tasks": {"main": {"steps": [{"name": "fail", "run": "echo no; exit 4"}]}},
                },
            }
        },
    }


def test_run_wait_logs_and_describe_through_an_agent(
    apiserver: ApiServerProcess, agent_factory: Callable[..., AgentProcess]
) -> None:
    agent_factory(apiserver, "worker", extra=("--executor", "process"))
    apply_workflow(apiserver, fan_out_workflow())
    wait_until(lambda: placements(apiserver).get("hello.build") == "worker", 30.0, "placed")

    waited = xenectl(apiserver, "run", "hello/build", "--wait")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "task join: Succeeded" in waited.stdout
    assert waited.stdout.splitlines()[-1].startswith("run hello.build.1 Succeeded in ")

    logs = xenectl(apiserver, "logs", "hello/build")
    assert logs.returncode == 0, logs.stderr
    assert "[a/write] a wrote" in logs.stdout.splitlines()
    assert "[join/read] a from hello.build.1" in logs.stdout.splitlines()
    one_step = xenectl(
        apiserver, "logs", "hello/build", "--run", "1", "--task", "join", "--step", "read"
    )
    assert one_step.stdout == "a from hello.build.1\nb from hello.build.1\n"

    described = xenectl(apiserver, "describe", "run", "hello.build.1")
    assert described.returncode == 0, described.stderr
    assert "read:  Success (exit 0)" in described.stdout

    wait_until(lambda: placements(apiserver).get("hello.broken") == "worker", 30.0, "placed")
    failed = xenectl(apiserver, "run", "hello/broken", "--wait")
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "run hello.broken.1 Failed" in failed.stdout
    assert "step main/fail: Error (exit 4)" in failed.stdout

    listed = xenectl(apiserver, "runs", "--workflow", "hello", "--status", "Failed")
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["hello.broken.1"]
    events = xenectl(apiserver, "report", "--source", "server", "--workflow", "hello")
    assert events.returncode == 0, events.stderr
    rows = sorted(line.split()[:4] for line in events.stdout.splitlines()[1:])
    assert rows == [
        ["server", "hello/broken", "1", "Failed"],
        ["server", "hello/build", "1", "Succeeded"],
    ]
