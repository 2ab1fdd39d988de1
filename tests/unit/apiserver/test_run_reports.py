"""Run reports: status snapshots from agents, the commands they get, and the service that
stores reports, on the in-memory store."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.unit.apiserver.world import ServerWorld
from xene.api.errors import Invalid
from xene.api.meta import ObjectMeta
from xene.api.run import PipelineRun, PipelineRunSpec, RunAttempt, RunPhase, RunTrigger
from xene.apiserver.grpc.agents import command_to_proto
from xene.apiserver.services.run_reports import (
    LogChunkReport,
    RunRequest,
    RunUpdateReport,
    agent_status,
    apply_status,
)
from xene.store.commands import new_command

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def assigned_run() -> PipelineRun:
    run = PipelineRun(
        metadata=ObjectMeta(name="wf.p.1"),
        spec=PipelineRunSpec(workflow="wf", pipeline="p", number=1),
    )
    run.status.agent = "a1"
    run.status.attempts = [RunAttempt(number=1, agent="a1", startedAt=NOW)]
    return run


def test_only_the_agent_owned_fields_of_a_snapshot_are_taken() -> None:
    status = agent_status(
        {"phase": "Running", "agent": "elsewhere", "cancelRequested": True, "other": 1}
    )
    assert status.phase == RunPhase.RUNNING
    assert status.agent is None and not status.cancelRequested


def test_a_bad_snapshot_names_the_field() -> None:
    with pytest.raises(Invalid) as caught:
        agent_status({"phase": "Exploded"})
    assert [e.path for e in caught.value.errors] == ["runUpdate.status.phase"]
    with pytest.raises(Invalid):
        agent_status(["not", "an", "object"])


def test_a_final_snapshot_ends_the_attempt_and_an_older_one_cannot_reopen_it() -> None:
    run = apply_status(assigned_run(), agent_status({"phase": "Failed", "message": "boom"}), NOW)
    assert run.status.phase == RunPhase.FAILED
    assert run.status.finishedAt == NOW
    assert run.status.attempts[0].result == "Failed"
    assert run.status.attempts[0].finishedAt == NOW
    assert run.status.agent == "a1"

    again = apply_status(run, agent_status({"phase": "Running"}), NOW)
    assert again.status.phase == RunPhase.FAILED


def test_start_and_cancel_commands_carry_the_attempt() -> None:
    start = new_command(
        "StartRun",
        "wf.p.1",
        {"attempt": 2, "run": {"metadata": {"name": "wf.p.1"}}, "pipeline": {"kind": "Pipeline"}},
    )
    message = command_to_proto(start).command
    assert message.id == start.id
    assert message.start_run.attempt == 2
    assert json.loads(message.start_run.run_json) == {"metadata": {"name": "wf.p.1"}}
    assert json.loads(message.start_run.pipeline_json) == {"kind": "Pipeline"}
    assert message.start_run.plan_json == b""  # a command stored before plans were compiled

    planned = new_command("StartRun", "wf.p.1", {"attempt": 1, "run": {}, "plan": {"tasks": {}}})
    assert json.loads(command_to_proto(planned).command.start_run.plan_json) == {"tasks": {}}

    cancel = command_to_proto(new_command("CancelRun", "wf.p.1", {"reason": "r", "attempt": 2}))
    assert (cancel.command.cancel_run.reason, cancel.command.cancel_run.attempt) == ("r", 2)


# -- the service, on the in-memory store ------------------------------------------------------


async def assigned_on(world: ServerWorld, agent: str) -> None:
    await world.connect(agent)
    await world.create_pipeline("p")
    await world.place("wf.p", agent)
    await world.runs.create_run("wf.p", trigger=RunTrigger(type="manual"))


def update(
    seq: int, status: dict[str, object], events: list[object] | None = None
) -> RunUpdateReport:
    return RunUpdateReport(
        "wf.p.1", 1, seq, json.dumps(status).encode(), json.dumps(events or []).encode()
    )


async def test_reports_of_the_current_attempt_are_stored_once(world: ServerWorld) -> None:
    await assigned_on(world, "a1")
    running = update(1, {"phase": "Running"}, [{"kind": "RunStarted"}])
    await world.reports.apply_update("a1", running)
    await world.reports.apply_update("a1", running)  # replayed after a reconnect
    await world.reports.append_log(
        "a1", LogChunkReport("wf.p.1", 1, 2, "main", "hello", ["stdout"], ["hi"], [1.0])
    )
    await world.reports.apply_update("a1", update(3, {"phase": "Succeeded"}))

    run = await world.run("wf.p.1")
    assert run.status.phase == RunPhase.SUCCEEDED
    assert run.status.attempts[0].result == "Succeeded"
    assert [e["kind"] for e in await world.logs.read_events("wf.p.1")] == ["RunStarted"]
    assert [r.line for r in await world.logs.read("wf.p.1")] == ["hi"]


async def test_reports_of_another_agent_or_attempt_are_dropped(world: ServerWorld) -> None:
    await assigned_on(world, "a1")
    await world.reports.apply_update("intruder", update(1, {"phase": "Failed"}))
    await world.reports.append_log(
        "intruder", LogChunkReport("wf.p.1", 1, 2, "main", "hello", ["stdout"], ["x"], [1.0])
    )
    assert (await world.run("wf.p.1")).status.phase == RunPhase.PENDING
    assert await world.logs.read("wf.p.1") == []


async def test_an_agent_may_only_start_runs_of_its_own_pipelines(world: ServerWorld) -> None:
    await assigned_on(world, "a1")
    tick = json.dumps({"type": "cron", "name": "nightly"}).encode()
    made = await world.reports.create_run("a1", RunRequest("wf.p", tick, dedup_key="t1"))
    assert made.created and made.run is not None and made.run.spec.trigger.type == "cron"
    with pytest.raises(Invalid, match="not scheduled on agent 'a2'"):
        await world.reports.create_run("a2", RunRequest("wf.p", tick))


async def test_a_refused_start_fails_the_run(world: ServerWorld) -> None:
    await assigned_on(world, "a1")
    (start,) = await world.store.commands.list("a1")
    await world.reports.command_refused("a1", start.id, "no docker here")
    run = await world.run("wf.p.1")
    assert run.status.phase == RunPhase.FAILED
    assert run.status.message == "agent a1 refused to start the run: no docker here"
