"""The pure parts of run reports: status snapshots from agents and the commands they get."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from xene.api.errors import Invalid
from xene.api.meta import ObjectMeta
from xene.api.run import PipelineRun, PipelineRunSpec, RunAttempt, RunPhase
from xene.apiserver.grpc.agents import command_to_proto
from xene.apiserver.services.run_reports import agent_status, apply_status
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

    cancel = command_to_proto(new_command("CancelRun", "wf.p.1", {"reason": "r", "attempt": 2}))
    assert (cancel.command.cancel_run.reason, cancel.command.cancel_run.attempt) == ("r", 2)
