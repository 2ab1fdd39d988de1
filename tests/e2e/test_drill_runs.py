"""Drills on runs with the shipped processes: apiserver killed mid-run, agent line cut."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_runs_on_agents import events, logs, start_run, wait_finished, wait_placed
from tests.fixtures.agents import apply_workflow, placements, wait_agents_ready, wait_until
from tests.fixtures.proxy import CuttableProxy
from tests.fixtures.servers import ApiServerProcess, make_apiserver

pytestmark = pytest.mark.slow


def counting_workflow(lines: int, pause: float) -> dict[str, Any]:
    """One pipeline whose step prints `line 1` … `line N`, pausing between lines."""
    command = f"for i in $(seq 1 {lines}); do echo line $i; sleep {pause}; done"
    return {
        "apiVersion": "xene.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "count"},
        "spec": {
            "pipelines": {
                "build": {
                    "executor": "process",
                    "tasks": {
                        "first": {"steps": [{"name": "hello", "run": "echo first"}]},
                        "main": {
                            "dependencies": ["first"],
                            "steps": [{"name": "count", "run": command}],
                        },
                    },
                }
            }
        },
    }


def expected_lines(count: int) -> list[str]:
    return [f"line {i}" for i in range(1, count + 1)]


def test_apiserver_killed_mid_run_loses_no_transition_and_no_line(
    etcd_server, tmp_path: Path, agent_factory
) -> None:
    server = make_apiserver(tmp_path, etcd_server.endpoint)
    server.start()
    try:
        agent_factory(server, "worker")
        wait_agents_ready(server, "worker")
        apply_workflow(server, counting_workflow(lines=12, pause=0.5))
        wait_placed(server, "count.build")
        name = start_run(server, "count.build")
        wait_until(lambda: "line 3" in logs(server, name), 20, "the step to print")

        server.kill()
        time.sleep(2)  # the step goes on printing while nobody listens
        server.start()

        run = wait_finished(server, name, timeout=60)
        status = run["status"]
        assert status["phase"] == "Succeeded", status
        assert [a["number"] for a in status["attempts"]] == [1]
        step = status["tasks"]["main"]["steps"][0]
        assert (step["state"], step["exitCode"]) == ("Success", 0)
        assert logs(server, name, task="main", step="count").splitlines() == expected_lines(12)
        assert logs(server, name, task="first", step="hello").splitlines() == ["first"]
        kinds = events(server, name)
        for kind, count in [
            ("RunStarted", 1),
            ("TaskStarted", 2),
            ("TaskSucceeded", 2),
            ("StepStarted", 2),
            ("StepSucceeded", 2),
            ("RunSucceeded", 1),
        ]:
            assert kinds.count(kind) == count, (kind, kinds)
    finally:
        server.stop()


def run_behind_proxy(
    server: ApiServerProcess, proxy: CuttableProxy, agent_factory, *, lines: int, pause: float
) -> str:
    """The counting pipeline placed on an agent dialling through `proxy`, a standby agent
    beside it, and a run started and printing; returns the run's name."""
    agent_factory(proxy.address, "behind-proxy")
    wait_agents_ready(server, "behind-proxy")
    apply_workflow(server, counting_workflow(lines=lines, pause=pause))
    wait_placed(server, "count.build")
    agent_factory(server, "standby")
    wait_agents_ready(server, "standby")
    name = start_run(server, "count.build")
    wait_until(lambda: "line 2" in logs(server, name), 20, "the step to print")
    return name


def test_line_to_the_agent_cut_for_30s_buffers_replays_and_runs_once(
    etcd_server, tmp_path: Path, agent_factory
) -> None:
    # The lease outlives the cut: the agent's pipelines must stay where they are, and the run
    # must finish as its first and only attempt with every line printed during the cut.
    server = make_apiserver(tmp_path, etcd_server.endpoint, "--agent-lease-ttl-seconds", "60")
    server.start()
    proxy = CuttableProxy(server.grpc_address)
    try:
        name = run_behind_proxy(server, proxy, agent_factory, lines=40, pause=1)

        proxy.cut()
        seen_at_cut = len(logs(server, name, task="main", step="count").splitlines())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert placements(server)["count.build"] == "behind-proxy"
            time.sleep(1)
        during = len(logs(server, name, task="main", step="count").splitlines())
        assert during <= seen_at_cut + 1, "lines arrived through a cut line"
        proxy.restore()

        run = wait_finished(server, name, timeout=60)
        status = run["status"]
        assert status["phase"] == "Succeeded", status
        assert [(a["number"], a["agent"]) for a in status["attempts"]] == [(1, "behind-proxy")]
        assert logs(server, name, task="main", step="count").splitlines() == expected_lines(40)
        kinds = events(server, name)
        assert kinds.count("RunStarted") == 1 and kinds.count("RunSucceeded") == 1
        assert placements(server)["count.build"] == "behind-proxy"
    finally:
        proxy.close()
        server.stop()


def test_line_cut_past_the_lease_moves_the_run_and_the_stale_attempt_changes_nothing(
    etcd_server, tmp_path: Path, agent_factory
) -> None:
    server = make_apiserver(tmp_path, etcd_server.endpoint, "--agent-lease-ttl-seconds", "3")
    server.start()
    proxy = CuttableProxy(server.grpc_address)
    try:
        name = run_behind_proxy(server, proxy, agent_factory, lines=16, pause=0.5)

        proxy.cut()
        run = wait_finished(server, name, timeout=60)
        assert placements(server)["count.build"] == "standby"
        proxy.restore()
        wait_agents_ready(server, "behind-proxy", timeout=30)
        time.sleep(3)  # room for the returning agent's replayed reports of attempt 1

        final = wait_finished(server, name)
        assert final["status"] == run["status"], "a stale attempt changed the record"
        attempts = final["status"]["attempts"]
        assert [(a["number"], a["agent"]) for a in attempts] == [
            (1, "behind-proxy"),
            (2, "standby"),
        ]
        assert attempts[0]["result"] != "Succeeded" and attempts[1]["result"] == "Succeeded"
        assert final["status"]["phase"] == "Succeeded"
        assert logs(server, name, task="main", step="count", attempt="2").splitlines() == (
            expected_lines(16)
        )
        assert events(server, name).count("RunSucceeded") == 1
    finally:
        proxy.close()
        server.stop()
