"""A v1 pipeline with a `sharedContainer`, as a user runs it: on a real xene-agent with the Docker
executor, and with `xenectl run --local`. What one task installs outside /workspace is there for
its dependants; an allowed failure does not fail the run; stopping or killing the agent leaves no
container (and so no step process) behind."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.test_xenectl_local import local_env, read_report, xenectl
from tests.fixtures.agents import AgentProcess, apply_workflow, make_agent, placements, wait_until
from tests.fixtures.docker import DockerEngine
from tests.fixtures.servers import ApiServerProcess
from xene.engine.executors.docker import LABEL_RUN, LABEL_SHARED
from xene.engine.executors.registry import LABEL_AGENT

pytestmark = pytest.mark.docker

TOOLS = """\
apiVersion: xene.dev/v1
kind: Workflow
metadata:
  name: tools
spec:
  pipelines:
    build:
      timeout: 5m
      sharedContainer:
        image: busybox:latest
        workingDir: /src
      tasks:
        install:
          workingDir: /opt/tool
          steps:
            - name: write
              run: mkdir -p bin && printf '#!/bin/sh\\necho tool says $1\\n' > bin/x
            - name: chmod
              run: chmod +x bin/x
        use:
          dependencies: [install]
          waitTimeout: 5m
          steps:
            - name: run
              run: /opt/tool/bin/x hello && pwd
        lint:
          dependencies: [install]
          allowFailure: true
          steps:
            - name: nits
              run: echo two nits; exit 3
    hold:
      sharedContainer:
        image: busybox:latest
      tasks:
        server:
          steps:
            - name: serve
              run: echo serving; sleep 300
"""
AGENT = "shared-worker"


def agent_containers(engine: DockerEngine) -> list[Any]:
    filters = {"label": [f"{LABEL_AGENT}={AGENT}"]}
    return engine.client.containers.list(all=True, filters=filters)


def start_run(server: ApiServerProcess, pipeline: str) -> str:
    posted = httpx.post(f"{server.url}/api/v1/pipelines/{pipeline}/runs", json={}, timeout=10)
    assert posted.status_code == 201, posted.text
    return str(posted.json()["metadata"]["name"])


def run_of(server: ApiServerProcess, name: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/v1/pipelineruns/{name}", timeout=5)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def finished(server: ApiServerProcess, name: str, agent: AgentProcess) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        status: dict[str, Any] = run_of(server, name)["status"]
        return status if status.get("phase") in ("Succeeded", "Failed", "Cancelled") else None

    return wait_until(ended, 120.0, f"run {name} to end", lambda: agent.logs()[-3000:])


def docker_agent(tmp_path: Path, server: ApiServerProcess, engine: DockerEngine) -> AgentProcess:
    agent = make_agent(
        tmp_path,
        server,
        AGENT,
        executors="docker,process",
        extra=("--executor", "docker", "--warm-pool-size", "0"),
    )
    agent.env["DOCKER_HOST"] = engine.host
    return agent


def shared_container_of(engine: DockerEngine, run: str) -> Any:
    found = engine.client.containers.list(
        filters={"label": [f"{LABEL_RUN}={run}", f"{LABEL_SHARED}=true"]}
    )
    return found[0] if found else None


def test_a_shared_container_pipeline_on_a_real_agent(
    apiserver: ApiServerProcess, tmp_path: Path, docker_engine: DockerEngine, busybox_image: str
) -> None:
    apply_workflow(apiserver, yaml.safe_load(TOOLS))
    agent = docker_agent(tmp_path, apiserver, docker_engine)
    try:
        agent.start()
        wait_until(
            lambda: placements(apiserver).get("tools.build") == AGENT, 20.0, "placement", agent.logs
        )
        name = start_run(apiserver, "tools.build")
        status = finished(apiserver, name, agent)
        assert status["phase"] == "Succeeded", status
        assert status["message"] == "task 'lint' failed (allowed to fail)"
        lint = status["tasks"]["lint"]
        assert (lint["phase"], lint["allowFailure"]) == ("Failed", True)
        assert status["tasks"]["use"]["phase"] == "Succeeded"

        logs = httpx.get(f"{apiserver.url}/api/v1/pipelineruns/{name}/logs", timeout=10).text
        assert "[use/run] tool says hello" in logs
        assert "[use/run] /src" in logs  # the container's working directory, created
        assert "[lint/nits] two nits" in logs
        events = httpx.get(f"{apiserver.url}/api/v1/pipelineruns/{name}/events", timeout=10)
        failed = [e for e in events.json()["items"] if e["type"] == "TaskFailed"]
        assert [(e["task"], e["allowFailure"]) for e in failed] == [("lint", True)]
        # The run's container is gone with the run.
        assert agent_containers(docker_engine) == []

        # Stopping the agent mid-run removes the shared container and its steps with it.
        held = start_run(apiserver, "tools.hold")
        container = wait_until(
            lambda: shared_container_of(docker_engine, held), 60.0, "the shared container"
        )
        assert container.labels[LABEL_AGENT] == AGENT
        assert agent.stop(timeout=30) == 0
        assert agent_containers(docker_engine) == [], agent.logs()[-3000:]
    finally:
        agent.kill()


def test_a_killed_agent_leaves_no_step_running_once_it_is_back(
    apiserver: ApiServerProcess, tmp_path: Path, docker_engine: DockerEngine, busybox_image: str
) -> None:
    apply_workflow(apiserver, yaml.safe_load(TOOLS))
    agent = docker_agent(tmp_path, apiserver, docker_engine)
    try:
        agent.start()
        wait_until(
            lambda: placements(apiserver).get("tools.hold") == AGENT, 20.0, "placement", agent.logs
        )
        name = start_run(apiserver, "tools.hold")
        orphan = wait_until(
            lambda: shared_container_of(docker_engine, name), 60.0, "the shared container"
        )
        agent.kill()  # no chance to clean up: the container and its step are left running
        orphan.reload()
        assert orphan.status == "running"

        agent.start()  # the same agent (name, data directory) comes back
        # It sweeps what its earlier process left before it runs anything.
        wait_until(
            lambda: orphan.id not in {c.id for c in agent_containers(docker_engine)},
            60.0,
            "the killed agent's container to be removed",
            agent.logs,
        )
        cancelled = httpx.post(
            f"{apiserver.url}/api/v1/pipelineruns/{name}/cancel", json={}, timeout=10
        )
        assert cancelled.status_code in (200, 202), cancelled.text
        assert finished(apiserver, name, agent)["phase"] in ("Cancelled", "Failed")
        wait_until(lambda: agent_containers(docker_engine) == [], 60.0, "no container left")
        assert agent.stop(timeout=30) == 0
        # Nor a workspace volume (of either attempt), labelled or made by Docker on its own.
        volumes = [v.name for v in docker_engine.client.volumes.list()]
        assert [v for v in volumes if v.startswith(f"xene-{name}-")] == []
    finally:
        agent.kill()


def test_a_shared_container_pipeline_with_xenectl_run_local(
    tmp_path: Path, docker_engine: DockerEngine, busybox_image: str
) -> None:
    path = tmp_path / "tools.yaml"
    path.write_text(TOOLS)
    env = local_env(tmp_path, {"DOCKER_HOST": docker_engine.host})
    started = time.monotonic()
    result = xenectl(env, "run", "--local", "-f", str(path), "tools/build")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(docker executor)" in result.stdout
    assert "[use/run] tool says hello" in result.stdout
    assert "[use/run] /src" in result.stdout
    assert "==> lint: Failed: step 'nits' failed with exit code 3 (allowed to fail)" in (
        result.stdout
    )
    report = read_report(env, "tools.build.1")
    assert report["status"]["phase"] == "Succeeded"
    assert report["status"]["message"] == "task 'lint' failed (allowed to fail)"
    leftovers = docker_engine.client.containers.list(
        all=True, filters={"label": [f"{LABEL_RUN}=tools.build.1"]}
    )
    assert leftovers == []
    assert time.monotonic() - started < 120
