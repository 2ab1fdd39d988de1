"""StartRun and CancelRun commands: each attempt runs once, reports its progress, can be stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.unit.agent.runs.helpers import (
    cancel_command,
    lines_of,
    pipeline_object,
    run_object,
    start_command,
    updates,
)
from tests.unit.engine.fakes import FakeExecutor
from xene.agent.connection import REPORT_CODEC
from xene.agent.runs import Outbox, RunManager
from xene.api.plan import compile_plan
from xene.api.run import RunPhase
from xene.engine.executors.registry import RunExecutors

HELLO = {"t": {"image": "busybox", "steps": [{"name": "s", "run": "echo hello"}]}}
HANG = {"t": {"steps": [{"name": "s", "run": "echo started; hang"}]}}


class Agent:
    def __init__(self, manager: RunManager, executor: FakeExecutor) -> None:
        self.manager = manager
        self.executor = executor
        self.outbox = manager.outbox


@pytest.fixture
async def agent() -> AsyncIterator[Agent]:
    executor = FakeExecutor()
    executors = RunExecutors("docker", {"docker": lambda: executor, "process": lambda: executor})
    manager = RunManager(Outbox(codec=REPORT_CODEC), executors, parallelism=2)
    task = asyncio.create_task(manager.run())
    await manager.started.wait()
    try:
        yield Agent(manager, executor)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if condition():
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {within}s")
        await asyncio.sleep(0.01)


async def test_a_started_run_executes_and_reports_its_result_and_output(agent: Agent) -> None:
    command = start_command(run_object(parameters={"GREETING": "hi"}), pipeline_object(HELLO))
    assert agent.manager.handle_command(command) is None
    assert agent.manager.active_attempts() == [("wf.build.1", 1)]
    assert await agent.manager.wait_finished("wf.build.1", 1) is RunPhase.SUCCEEDED

    final = updates(agent.outbox)[-1]
    assert final["phase"] == "Succeeded" and final["tasks"]["t"]["phase"] == "Succeeded"
    assert lines_of(agent.outbox, "t", "s") == ["hello"]
    env = agent.executor.calls[0].env
    assert env["GREETING"] == "hi" and env["XENE_RUN_ID"] == "wf.build.1"
    assert env["XENE_RUN_ATTEMPT"] == "1" and env["XENE_RUN_NUMBER"] == "1"
    # Until the server acknowledges the result, Hello keeps listing the attempt.
    assert agent.manager.active_attempts() == [("wf.build.1", 1)]
    agent.outbox.ack(agent.outbox.pending_seqs())
    assert agent.manager.active_attempts() == []


async def test_a_repeated_or_older_start_is_acknowledged_and_ignored(agent: Agent) -> None:
    run, pipeline = run_object(), pipeline_object(HELLO)
    assert agent.manager.handle_command(start_command(run, pipeline, attempt=2)) is None
    assert agent.manager.handle_command(start_command(run, pipeline, attempt=2)) is None
    await agent.manager.wait_finished("wf.build.1", 2)
    assert agent.manager.handle_command(start_command(run, pipeline, attempt=2)) is None
    assert agent.manager.handle_command(start_command(run, pipeline, attempt=1)) is None
    await asyncio.sleep(0.05)
    assert agent.executor.opened == ["t"]  # ran once
    events = [event["type"] for update in updates(agent.outbox) for event in update["events"]]
    assert events.count("RunStarted") == 1


async def test_a_newer_attempt_stops_the_older_one_first(agent: Agent) -> None:
    run, pipeline = run_object(), pipeline_object(HANG)
    agent.manager.handle_command(start_command(run, pipeline, attempt=1))
    await until(lambda: lines_of(agent.outbox, "t", "s") == ["started"])
    agent.manager.handle_command(start_command(run, pipeline_object(HELLO), attempt=2))
    assert await agent.manager.wait_finished("wf.build.1", 1) is RunPhase.CANCELLED
    assert await agent.manager.wait_finished("wf.build.1", 2) is RunPhase.SUCCEEDED
    old = [u for u in updates(agent.outbox) if u["attempt"] == 1][-1]
    assert old["phase"] == "Cancelled" and "superseded by attempt 2" in old["message"]


async def test_cancel_run_stops_the_run_and_reports_it_cancelled(agent: Agent) -> None:
    agent.manager.handle_command(start_command(run_object(), pipeline_object(HANG)))
    await until(lambda: lines_of(agent.outbox, "t", "s") == ["started"])
    assert agent.manager.handle_command(cancel_command("wf.build.1", 1, "by alice")) is None
    assert await agent.manager.wait_finished("wf.build.1", 1) is RunPhase.CANCELLED
    final = updates(agent.outbox)[-1]
    assert final["phase"] == "Cancelled" and final["message"] == "by alice"
    assert final["tasks"]["t"]["phase"] == "Cancelled"
    assert agent.executor.cleaned  # the workspace was removed
    # A cancel for a run not here is fine too.
    assert agent.manager.handle_command(cancel_command("wf.build.9")) is None


async def test_the_agent_executes_the_plan_the_server_compiled(agent: Agent) -> None:
    pipeline = pipeline_object(HELLO)
    plan = compile_plan(pipeline.spec)
    plan.tasks["t"].steps[0].run = "echo from the plan"
    assert agent.manager.handle_command(start_command(run_object(), pipeline, plan=plan)) is None
    assert await agent.manager.wait_finished("wf.build.1", 1) is RunPhase.SUCCEEDED
    assert lines_of(agent.outbox, "t", "s") == ["from the plan"]

    # An older server sends no plan: the agent compiles the pipeline itself.
    assert agent.manager.handle_command(start_command(run_object(2), pipeline)) is None
    assert await agent.manager.wait_finished("wf.build.2", 1) is RunPhase.SUCCEEDED
    assert agent.executor.calls[-1].env["XENE_RUN_ID"] == "wf.build.2"


async def test_runs_of_an_external_executor_fail_with_the_reason(agent: Agent) -> None:
    external = start_command(run_object(2), pipeline_object(HELLO, executor="external:jenkins"))
    assert agent.manager.handle_command(external) is None
    assert await agent.manager.wait_finished("wf.build.2", 1) is RunPhase.FAILED
    final = updates(agent.outbox, "wf.build.2")[-1]
    assert "executor 'external:jenkins' is not available" in final["message"]
    assert final["tasks"]["t"]["phase"] == "Skipped"
    assert agent.executor.opened == []  # nothing ran on the host's executors


async def test_commands_the_agent_cannot_run_are_refused_with_the_reason(agent: Agent) -> None:
    cyclic = {
        "a": {"dependencies": ["b"], "steps": [{"name": "s", "run": "echo"}]},
        "b": {"dependencies": ["a"], "steps": [{"name": "s", "run": "echo"}]},
    }
    error = agent.manager.handle_command(start_command(run_object(3), pipeline_object(cyclic)))
    assert error is not None and "cannot start" in error


async def test_shutdown_stops_running_runs_without_reporting_an_end(agent: Agent) -> None:
    agent.manager.handle_command(start_command(run_object(), pipeline_object(HANG)))
    await until(lambda: lines_of(agent.outbox, "t", "s") == ["started"])
    await agent.manager.shutdown()
    assert agent.manager.running() == []
    assert agent.executor.cleaned and agent.executor.closed == ["t"]
    # The server hands the run on after the goodbye; this attempt never claims an end.
    assert updates(agent.outbox)[-1]["phase"] == "Running"
    # Late commands are acknowledged but not started.
    late = start_command(run_object(5), pipeline_object(HELLO))
    assert agent.manager.handle_command(late) is None
    assert agent.manager.running() == []


async def test_runs_wait_for_the_start_up_sweep(agent: Agent) -> None:
    # The sweep removes every container of this agent: a run must not start before it is done.
    agent.manager.executors.hold_until_swept()
    assert agent.manager.handle_command(start_command(run_object(), pipeline_object(HELLO))) is None
    await asyncio.sleep(0.05)
    assert agent.executor.opened == [] and agent.manager.phase_of("wf.build.1", 1) is None
    await agent.manager.executors.sweep()
    assert await agent.manager.wait_finished("wf.build.1", 1) is RunPhase.SUCCEEDED
    assert agent.executor.opened == ["t"]
