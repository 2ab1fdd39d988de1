"""A run end to end: xene-apiserver and xene-agent processes, a run posted over REST, executed
by the agent (process executor), its record and logs read back over REST."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.agents import apply_workflow, placements, wait_until
from tests.fixtures.servers import ApiServerProcess, make_apiserver


def fan_out_workflow() -> dict[str, Any]:
    """checkout → (left, right) → join, files handed on through the workspace."""
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "demo"},
        "spec": {
            "pipelines": {
                "build": {
                    "executor": "process",
                    "tasks": {
                        "checkout": {"steps": [{"name": "fetch", "run": "echo source > src.txt"}]},
                        "left": {
                            "dependencies": ["checkout"],
                            "steps": [{"name": "l", "run": "cat src.txt > left.txt; echo left"}],
                        },
                        "right": {
                            "dependencies": ["checkout"],
                            "steps": [{"name": "r", "run": "echo right"}],
                        },
                        "join": {
                            "dependencies": ["left", "right"],
                            "steps": [{"name": "j", "run": "cat left.txt; echo joined"}],
                        },
                    },
                }
            }
        },
    }


def run_status(server: ApiServerProcess, name: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/pipelineruns/{name}", timeout=5.0)
    response.raise_for_status()
    return response.json()["status"]


def test_a_posted_run_succeeds_on_a_real_agent_with_its_logs(
    apiserver: ApiServerProcess, agent_factory
) -> None:
    apply_workflow(apiserver, fan_out_workflow())
    agent = agent_factory(apiserver, "worker", extra=("--executor", "process"))
    wait_until(
        lambda: placements(apiserver).get("demo.build") == "worker",
        20.0,
        "demo.build to be scheduled on worker",
        agent.logs,
    )
    posted = httpx.post(
        f"{apiserver.url}/api/v1/pipelines/demo.build/runs",
        json={"parameters": {"who": "e2e"}},
        timeout=10.0,
    )
    assert posted.status_code == 201, posted.text
    name = posted.json()["metadata"]["name"]
    assert name == "demo.build.1"

    status = wait_until(
        lambda: (s := run_status(apiserver, name))["phase"] in ("Succeeded", "Failed") and s,
        60.0,
        "the run to finish",
        lambda: agent.logs()[-3000:] + apiserver.logs()[-3000:],
    )
    assert status["phase"] == "Succeeded", status
    assert {t: s["phase"] for t, s in status["tasks"].items()} == {
        "checkout": "Succeeded",
        "left": "Succeeded",
        "right": "Succeeded",
        "join": "Succeeded",
    }
    assert [(a["number"], a["agent"], a.get("result")) for a in status["attempts"]] == [
        (1, "worker", "Succeeded")
    ]

    def joined_logs() -> str | None:
        response = httpx.get(f"{apiserver.url}/api/v1/pipelineruns/{name}/logs", timeout=10.0)
        return response.text if "[join/j] joined" in response.text else None

    logs = wait_until(joined_logs, 15.0, "the run's logs")
    assert "[join/j] source" in logs
    assert "[left/l] left" in logs
    events = httpx.get(f"{apiserver.url}/api/v1/pipelineruns/{name}/events", timeout=5.0)
    kinds = [e.get("type") or e.get("kind") for e in events.json()["items"]]
    assert "RunStarted" in kinds and "RunSucceeded" in kinds


def test_a_run_whose_agent_is_killed_completes_on_another(
    etcd_server, tmp_path: Path, agent_factory
) -> None:
    server = make_apiserver(tmp_path, etcd_server.endpoint, "--agent-lease-ttl-seconds", "3")
    server.start()
    try:
        document = fan_out_workflow()
        document["spec"]["pipelines"]["build"]["tasks"]["right"]["steps"][0]["run"] = (
            "sleep 4; echo right"
        )
        apply_workflow(server, document)
        first = agent_factory(server, "first", extra=("--executor", "process"))
        wait_until(lambda: placements(server).get("demo.build") == "first", 20.0, "placement")
        second = agent_factory(server, "second", extra=("--executor", "process"))
        posted = httpx.post(f"{server.url}/api/v1/pipelines/demo.build/runs", json={}, timeout=10)
        assert posted.status_code == 201, posted.text
        wait_until(
            lambda: run_status(server, "demo.build.1")["phase"] == "Running",
            20.0,
            "the run to start on first",
            first.logs,
        )
        first.kill()

        status = wait_until(
            lambda: (
                (s := run_status(server, "demo.build.1"))["phase"] in ("Succeeded", "Failed") and s
            ),
            60.0,
            "the run to finish on second",
            lambda: second.logs()[-3000:] + server.logs()[-3000:],
        )
        assert status["phase"] == "Succeeded", status
        attempts = [(a["number"], a["agent"], a.get("result")) for a in status["attempts"]]
        assert attempts == [
            (1, "first", "Interrupted: agent first lost"),
            (2, "second", "Succeeded"),
        ]
    finally:
        server.stop()
