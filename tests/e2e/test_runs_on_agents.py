"""Runs end to end with the shipped processes: xene-apiserver, xene-agent (process executor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.agents import apply_workflow, placements, wait_agents_ready, wait_until
from tests.fixtures.servers import ApiServerProcess, make_apiserver


def fan_out_workflow(name: str = "wf") -> dict[str, Any]:
    """prepare → (left, right) → join, handing files on through the workspace."""

    def task(run: str, *dependencies: str) -> dict[str, Any]:
        return {"dependencies": list(dependencies), "steps": [{"name": "main", "run": run}]}

    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "pipelines": {
                "build": {
                    "executor": "process",
                    "tasks": {
                        "prepare": task("echo seed > seed.txt; echo prepared"),
                        "left": task('echo "$(cat seed.txt)-left" > left.txt', "prepare"),
                        "right": task('echo "$(cat seed.txt)-right" > right.txt', "prepare"),
                        "join": task("cat left.txt right.txt", "left", "right"),
                    },
                }
            }
        },
    }


def slow_workflow(name: str = "slow") -> dict[str, Any]:
    """One step that writes a line, waits, and writes another."""
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "pipelines": {
                "build": {
                    "executor": "process",
                    "tasks": {
                        "main": {
                            "steps": [
                                {
                                    "name": "work",
                                    "run": "echo begin $XENE_RUN_ATTEMPT; sleep 3; echo end",
                                }
                            ]
                        }
                    },
                }
            }
        },
    }


def start_run(server: ApiServerProcess, pipeline: str) -> str:
    response = httpx.post(f"{server.url}/api/v1/pipelines/{pipeline}/runs", json={}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["metadata"]["name"])


def get_run(server: ApiServerProcess, name: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/pipelineruns/{name}", timeout=5)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def logs(server: ApiServerProcess, name: str, **query: str) -> str:
    response = httpx.get(f"{server.url}/api/v1/pipelineruns/{name}/logs", params=query, timeout=5)
    response.raise_for_status()
    return response.text


def events(server: ApiServerProcess, name: str) -> list[str]:
    response = httpx.get(f"{server.url}/api/v1/pipelineruns/{name}/events", timeout=5)
    response.raise_for_status()
    return [event.get("type") or event.get("kind") for event in response.json()["items"]]


def wait_finished(server: ApiServerProcess, name: str, timeout: float = 30.0) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run = get_run(server, name)
        return run if run["status"]["phase"] in ("Succeeded", "Failed", "Cancelled") else None

    result: dict[str, Any] = wait_until(
        finished, timeout, f"run {name} to finish", lambda: get_run(server, name)["status"]
    )
    return result


def wait_placed(server: ApiServerProcess, pipeline: str) -> str:
    agent: str = wait_until(
        lambda: placements(server).get(pipeline), 20, f"{pipeline} to be placed"
    )
    return agent


def test_a_run_started_over_rest_completes_with_its_logs(
    apiserver: ApiServerProcess, agent_factory
) -> None:
    agent_factory(apiserver, "worker")
    wait_agents_ready(apiserver, "worker")
    apply_workflow(apiserver, fan_out_workflow())
    wait_placed(apiserver, "wf.build")

    name = start_run(apiserver, "wf.build")
    run = wait_finished(apiserver, name)

    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert {task: t["phase"] for task, t in status["tasks"].items()} == {
        "prepare": "Succeeded",
        "left": "Succeeded",
        "right": "Succeeded",
        "join": "Succeeded",
    }
    assert status["tasks"]["join"]["steps"][0]["exitCode"] == 0
    assert [(a["number"], a["agent"]) for a in status["attempts"]] == [(1, "worker")]
    assert logs(apiserver, name, task="join", step="main").splitlines() == [
        "seed-left",
        "seed-right",
    ]
    assert "[prepare/main] prepared" in logs(apiserver, name)
    kinds = events(apiserver, name)
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunSucceeded"
    assert kinds.count("TaskSucceeded") == 4


def test_a_run_of_a_killed_agent_completes_on_another_agent(
    etcd_server, tmp_path: Path, agent_factory
) -> None:
    server = make_apiserver(tmp_path, etcd_server.endpoint, "--agent-lease-ttl-seconds", "3")
    server.start()
    try:
        agents = {name: agent_factory(server, name) for name in ("a1", "a2")}
        wait_agents_ready(server, "a1", "a2")
        apply_workflow(server, slow_workflow())
        first = wait_placed(server, "slow.build")
        name = start_run(server, "slow.build")
        wait_until(lambda: "begin 1" in logs(server, name), 20, "the first attempt to start")
        agents[first].kill()

        run = wait_finished(server, name, timeout=45)
        status = run["status"]
        assert status["phase"] == "Succeeded", status
        other = "a2" if first == "a1" else "a1"
        attempts = status["attempts"]
        assert [(a["number"], a["agent"]) for a in attempts] == [(1, first), (2, other)]
        assert attempts[1]["result"] == "Succeeded" and attempts[0]["result"] != "Succeeded"
        text = logs(server, name, task="main", step="work", attempt="2")
        assert text.splitlines() == ["begin 2", "end"]
    finally:
        server.stop()


def test_a_run_record_and_logs_are_complete_across_an_apiserver_restart(
    etcd_server, tmp_path: Path, agent_factory
) -> None:
    server = make_apiserver(tmp_path, etcd_server.endpoint)
    server.start()
    try:
        agent = agent_factory(server, "worker")
        wait_agents_ready(server, "worker")
        apply_workflow(server, slow_workflow())
        wait_placed(server, "slow.build")
        name = start_run(server, "slow.build")
        wait_until(lambda: "begin 1" in logs(server, name), 20, "the step to start")

        # The step ends while the apiserver is down: its last line and the result wait in the
        # agent's outbox and arrive after the restart.
        server.stop()
        agent.wait_for_log("run slow.build.1 attempt 1 ended", timeout=20)
        server.start()

        run = wait_finished(server, name)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert [a["number"] for a in run["status"]["attempts"]] == [1]
        assert logs(server, name, task="main", step="work").splitlines() == ["begin 1", "end"]
        kinds = events(server, name)
        assert kinds.count("RunStarted") == 1 and kinds.count("RunSucceeded") == 1
    finally:
        server.stop()


def test_a_stopped_agent_hands_its_run_on_and_exits_cleanly(
    apiserver: ApiServerProcess, agent_factory
) -> None:
    agents = {name: agent_factory(apiserver, name) for name in ("a1", "a2")}
    wait_agents_ready(apiserver, "a1", "a2")
    apply_workflow(apiserver, slow_workflow())
    first = wait_placed(apiserver, "slow.build")
    name = start_run(apiserver, "slow.build")
    wait_until(lambda: "begin 1" in logs(apiserver, name), 20, "the first attempt to start")

    assert agents[first].stop(timeout=15) == 0

    run = wait_finished(apiserver, name, timeout=30)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert [a["number"] for a in run["status"]["attempts"]] == [1, 2]
    assert "end" not in logs(apiserver, name, task="main", step="work", attempt="1")
