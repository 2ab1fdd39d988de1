"""Triggers end to end: real apiserver, real etcd, real agents running steps as host processes.

Cron uses the agents' test-only schedule override (a sixth field: seconds), so ticks come
every few seconds instead of every minute.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.agents import AgentProcess, apply_workflow, make_agent, placements, wait_until
from tests.fixtures.servers import ApiServerProcess, make_apiserver

HERE = Path(__file__).parent
GITHUB_PUSH = (HERE.parent / "unit/apiserver/webhooks/github_push.json").read_bytes()
SECRET = "e2e-hook-secret"


@pytest.fixture
def server(etcd_server: Any, tmp_path: Path) -> Iterator[ApiServerProcess]:
    apiserver = make_apiserver(tmp_path, etcd_server.endpoint, "--agent-lease-ttl-seconds", "2")
    apiserver.env["HOOK_SECRET"] = SECRET
    apiserver.start()
    try:
        yield apiserver
    finally:
        if apiserver.process is not None and apiserver.process.poll() is None:
            apiserver.kill()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(server: ApiServerProcess, name: str, schedule: str | None = None) -> AgentProcess:
        agent = make_agent(tmp_path, server, name, extra=("--executor", "process"))
        if schedule:
            agent.env["XENE_AGENT_CRON_SCHEDULE_OVERRIDE"] = schedule
        started.append(agent.start())
        return agent

    try:
        yield start
    finally:
        for agent in started:
            agent.kill()


def document(name: str, trigger: dict[str, Any], command: str) -> dict[str, Any]:
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "triggers": [trigger],
            "pipelines": {
                "build": {
                    "triggers": [trigger["name"]],
                    "executor": "process",
                    "tasks": {"main": {"steps": [{"name": "show", "run": command}]}},
                }
            },
        },
    }


def runs_of(server: ApiServerProcess, pipeline: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.url}/api/v1/pipelineruns",
        params={"labelSelector": f"xene.dev/pipeline={pipeline}"},
        timeout=5,
    )
    response.raise_for_status()
    return sorted(response.json()["items"], key=lambda run: run["spec"]["number"])


def scheduled(run: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(run["spec"]["trigger"]["scheduledTime"])


def test_github_push_fields_reach_the_steps(
    server: ApiServerProcess, agents: Callable[..., AgentProcess]
) -> None:
    agents(server, "a1")
    hook = {"name": "on-push", "type": "webhook", "secretEnv": "HOOK_SECRET"}
    command = (
        'echo "branch=$XENE_BRANCH commit=$XENE_COMMIT by=$XENE_SENDER"; cat "$XENE_PAYLOAD_FILE"'
    )
    apply_workflow(server, document("gh", hook, command))
    wait_until(lambda: placements(server).get("gh.build") == "a1", 20, "gh.build on a1")
    signature = "sha256=" + hmac.new(SECRET.encode(), GITHUB_PUSH, hashlib.sha256).hexdigest()
    response = httpx.post(
        f"{server.url}/api/v1/webhooks/gh/build/on-push",
        content=GITHUB_PUSH,
        headers={"X-Hub-Signature-256": signature, "X-GitHub-Event": "push"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    url = response.json()["url"]

    def finished() -> dict[str, Any] | None:
        run = httpx.get(url, timeout=5).json()
        return run if run["status"]["phase"] in ("Succeeded", "Failed") else None

    run = wait_until(finished, 30, "the webhook's run to finish")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    logs = httpx.get(f"{url}/logs", params={"task": "main", "step": "show"}, timeout=5).text
    lines = logs.splitlines()
    assert lines[0] == ("branch=main commit=0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c by=octocat"), (
        logs
    )
    assert "Update README.md; $(rm -rf /)" in logs  # the payload file, as delivered


def test_cron_ticks_run_once_each_and_once_more_after_the_agent_dies(
    server: ApiServerProcess, agents: Callable[..., AgentProcess]
) -> None:
    # Long enough that the new agent takes over (lease TTL 2s) before the tick after next.
    period = 10  # divides 60: the seconds field repeats every minute
    schedule = f"* * * * * */{period}"
    first = agents(server, "c1", schedule)
    tick = {"name": "tick", "type": "cron", "schedule": "@hourly"}
    apply_workflow(server, document("cr", tick, 'echo "tick $XENE_TRIGGER_NAME"'))
    wait_until(lambda: placements(server).get("cr.build") == "c1", 20, "cr.build on c1")
    wait_until(lambda: len(runs_of(server, "cr.build")) >= 1, 20, "a cron run")
    # On an idle agent a tick's run starts within a second of its scheduled time.
    first_run = wait_until(
        lambda: next(
            (r for r in runs_of(server, "cr.build") if r["status"].get("startedAt")), None
        ),
        20,
        "the first tick's run to start",
    )
    started = datetime.fromisoformat(first_run["status"]["startedAt"])
    assert 0 <= (started - scheduled(first_run)).total_seconds() <= 1.0, first_run["status"]
    # Kill the agent a second before the next tick; a second agent takes the pipeline over.
    now = time.time()
    next_tick = (int(now) // period + 1) * period
    if next_tick - now < 1.5:
        next_tick += period
    time.sleep(next_tick - now - 1.0)
    first.kill()
    agents(server, "c2", schedule)
    wait_until(lambda: placements(server).get("cr.build") == "c2", 30, "cr.build moved to c2")

    def ran_on_c2() -> list[dict[str, Any]]:
        return [r for r in runs_of(server, "cr.build") if scheduled(r).timestamp() >= next_tick]

    wait_until(lambda: len(ran_on_c2()) >= 2, 30, "ticks after the kill to run")
    runs = runs_of(server, "cr.build")
    times = [scheduled(run) for run in runs]
    assert len(times) == len(set(times)), "a tick ran twice"
    assert all(t.timestamp() % period == 0 for t in times)
    # The tick the dead agent missed ran exactly once (on the new agent).
    missed = [run for run in runs if scheduled(run).timestamp() == next_tick]
    assert len(missed) == 1
    wait_until(
        lambda: (
            httpx.get(f"{server.url}/api/v1/pipelineruns/{missed[0]['metadata']['name']}").json()[
                "status"
            ]["phase"]
            == "Succeeded"
        ),
        30,
        "the caught-up tick's run to succeed",
    )
    status = httpx.get(f"{server.url}/api/v1/triggers/cr.tick", timeout=5).json()["status"]
    assert status["lastFireTime"] and status["nextFireTime"] and status["lastRun"]
