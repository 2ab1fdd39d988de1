"""A real xene-agent with the warm container pool on: Docker runs succeed one after the other,
and a SIGTERM leaves no container or volume of the agent behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.agents import (
    AgentProcess,
    apply_workflow,
    make_agent,
    placements,
    wait_until,
)
from tests.fixtures.docker import DockerEngine
from tests.fixtures.servers import ApiServerProcess
from xene.engine.executors.pool import LABEL_POOL
from xene.engine.executors.registry import LABEL_AGENT

pytestmark = pytest.mark.docker

AGENT = "warm-worker"


def docker_workflow(image: str) -> dict[str, Any]:
    """One Docker pipeline whose step proves it ran in the run's own fresh workspace."""
    step = "test ! -e mine && echo run > mine && echo ran in $(pwd)"
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "warm"},
        "spec": {
            "pipelines": {
                "build": {
                    "executor": "docker",
                    "tasks": {"main": {"image": image, "steps": [{"name": "s", "run": step}]}},
                }
            }
        },
    }


def agent_objects(engine: DockerEngine) -> tuple[list[str], list[str]]:
    """Names of the containers and volumes labelled as this agent's."""
    label = {"label": [f"{LABEL_AGENT}={AGENT}"]}
    containers = [c.name for c in engine.client.containers.list(all=True, filters=label)]
    volumes = [v.name for v in engine.client.volumes.list(filters=label)]
    return containers, volumes


def idle_pool_containers(engine: DockerEngine) -> int:
    """Running containers the agent's pool made (idle ones, between runs)."""
    filters = {"label": [f"{LABEL_AGENT}={AGENT}", LABEL_POOL], "status": "running"}
    return len(engine.client.containers.list(filters=filters))


def finished_run(server: ApiServerProcess, agent: AgentProcess, number: int) -> dict[str, Any]:
    """Start run `number` of warm.build and wait for its end; its status."""
    posted = httpx.post(f"{server.url}/api/v1/pipelines/warm.build/runs", json={}, timeout=10)
    assert posted.status_code == 201, posted.text
    name = posted.json()["metadata"]["name"]
    assert name == f"warm.build.{number}"

    def ended() -> dict[str, Any] | None:
        response = httpx.get(f"{server.url}/api/v1/pipelineruns/{name}", timeout=5)
        status: dict[str, Any] = response.json()["status"]
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    return wait_until(ended, 60.0, f"run {name} to end", lambda: agent.logs()[-3000:])


def test_pooled_agent_runs_docker_pipelines_and_leaves_nothing_after_sigterm(
    apiserver: ApiServerProcess,
    tmp_path: Path,
    docker_engine: DockerEngine,
    busybox_image: str,
) -> None:
    assert agent_objects(docker_engine) == ([], [])
    apply_workflow(apiserver, docker_workflow(busybox_image))
    agent = make_agent(
        tmp_path,
        apiserver,
        AGENT,
        executors="docker,process",
        extra=("--executor", "docker", "--warm-pool-size", "1"),
    )
    agent.env["DOCKER_HOST"] = docker_engine.host
    agent.env["XENE_AGENT_WARM_POOL_IMAGES"] = busybox_image  # the variable form of the flag
    try:
        agent.start()
        serve_two_runs(apiserver, agent, docker_engine)
        assert agent.stop(timeout=30) == 0
    finally:
        agent.kill()
    assert agent_objects(docker_engine) == ([], []), agent.logs()[-3000:]


def serve_two_runs(server: ApiServerProcess, agent: AgentProcess, engine: DockerEngine) -> None:
    """Two runs of warm.build, each starting on a warm container that is refilled afterwards."""
    apiserver = server
    docker_engine = engine
    wait_until(
        lambda: placements(apiserver).get("warm.build") == AGENT, 20.0, "placement", agent.logs
    )
    # The pool fills right after the start-up sweep, before any run asks for it.
    wait_until(lambda: idle_pool_containers(docker_engine) == 1, 60.0, "a warm container")

    for number in (1, 2):
        status = finished_run(apiserver, agent, number)
        assert status["phase"] == "Succeeded", status
        logs = httpx.get(f"{apiserver.url}/api/v1/pipelineruns/warm.build.{number}/logs")
        assert "ran in /workspace" in logs.text
        # The pool is topped up again for the next run.
        wait_until(lambda: idle_pool_containers(docker_engine) == 1, 60.0, "the pool to refill")
