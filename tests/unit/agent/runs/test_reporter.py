"""The reporter turns a run's progress into coalesced status snapshots and batched output."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from tests.unit.agent.runs.helpers import chunks, lines_of, updates
from tests.unit.engine.fakes import FakeExecutor, pipeline
from xene.agent.connection import REPORT_CODEC
from xene.agent.runs.outbox import Outbox
from xene.agent.runs.reporter import ReportPacing, RunReporter, event_document, status_document
from xene.api.run import PipelineRunStatus, RunPhase, TaskPhase, TaskStatus
from xene.apiserver.services.run_reports import agent_status
from xene.engine import PipelineRunner, RunOptions
from xene.engine.events import TaskCancelled, TaskFailed


async def run_reported(
    tasks: dict[str, Any], *, pacing: ReportPacing | None = None, output_limit: int = 1 << 20
) -> Outbox:
    outbox = Outbox(codec=REPORT_CODEC)
    runner = PipelineRunner(
        pipeline(tasks),
        FakeExecutor(),
        run_id="wf.build.1",
        options=RunOptions(parallelism=8, output_limit=output_limit),
    )
    reporter = RunReporter(outbox, "wf.build.1", 2, runner.status, pacing=pacing)
    runner.add_observer(reporter)
    async with reporter:
        await runner.run()
    return outbox


def one_step(run: str) -> dict[str, Any]:
    return {"steps": [{"name": "s", "run": run}]}


async def test_a_burst_of_transitions_is_coalesced_and_ends_with_the_final_state() -> None:
    tasks = {f"t{i}": one_step("echo hi") for i in range(20)}
    outbox = await run_reported(tasks, pacing=ReportPacing(update_interval=0.5))

    sent = updates(outbox)
    # 20 tasks x (ready, started, step started, step succeeded, succeeded) + run start and end.
    events = [event for update in sent for event in update["events"]]
    assert len(events) == 20 * 5 + 2
    assert len(sent) <= 5
    assert [events[0]["type"], events[-1]["type"]] == ["RunStarted", "RunSucceeded"]
    assert sent[0]["phase"] == "Running"
    final = sent[-1]
    assert final["phase"] == "Succeeded" and final["attempt"] == 2
    assert set(final) >= {"phase", "startedAt", "finishedAt", "tasks"}
    assert "agent" not in final and "attempts" not in final  # the server's fields
    assert {task["phase"] for task in final["tasks"].values()} == {"Succeeded"}


async def test_event_documents_name_their_type_and_fields() -> None:
    outbox = await run_reported({"t": one_step("exit 3")})
    events = [event for update in updates(outbox) for event in update["events"]]
    failed = next(event for event in events if event["type"] == "StepFailed")
    assert failed["task"] == "t" and failed["step"] == "s" and failed["exitCode"] == 3
    assert "time" in failed and "run_id" not in failed


async def test_output_of_a_running_step_goes_out_before_the_step_ends() -> None:
    outbox = Outbox(codec=REPORT_CODEC)
    runner = PipelineRunner(
        pipeline({"t": one_step("echo first; sleep 0.6; echo second")}),
        FakeExecutor(),
        run_id="wf.build.1",
    )
    reporter = RunReporter(outbox, "wf.build.1", 1, runner.status)
    runner.add_observer(reporter)
    async with reporter:
        running = asyncio.create_task(runner.run())
        await asyncio.sleep(0.35)
        assert lines_of(outbox, "t", "s") == ["first"]
        assert updates(outbox)[-1]["tasks"]["t"]["steps"][0]["state"] == "Running"
        await running
    assert lines_of(outbox, "t", "s") == ["first", "second"]
    assert updates(outbox)[-1]["phase"] == "Succeeded"


async def test_many_lines_go_out_in_batches_in_order() -> None:
    commands = "; ".join(f"echo line {i}" for i in range(250))
    outbox = await run_reported({"t": one_step(commands)})
    assert [len(chunk.lines) for chunk in chunks(outbox)] == [100, 100, 50]
    assert lines_of(outbox, "t", "s") == [f"line {i}" for i in range(250)]
    assert all(stream == "stdout" for chunk in chunks(outbox) for stream in chunk.streams)


async def test_output_past_the_limit_ends_with_a_truncated_chunk() -> None:
    commands = "; ".join(f"echo line {i:04}" for i in range(500))
    outbox = await run_reported({"t": one_step(commands)}, output_limit=1000)
    sent = chunks(outbox)
    assert sent[-1].truncated and not any(chunk.truncated for chunk in sent[:-1])
    lines = lines_of(outbox, "t", "s")
    assert lines == [f"line {i:04}" for i in range(len(lines))]  # the marker is the server's
    assert 0 < len(lines) < 500


def test_the_server_records_why_a_task_ended_and_whether_its_failure_was_allowed() -> None:
    time = datetime(2030, 1, 1, tzinfo=UTC)
    failed = TaskFailed(
        run_id="r", time=time, task="lint", attempt=1, message="exit code 3", allow_failure=True
    )
    assert event_document(failed) == {
        "type": "TaskFailed",
        "time": "2030-01-01T00:00:00+00:00",
        "task": "lint",
        "attempt": 1,
        "message": "exit code 3",
        "allowFailure": True,
    }
    cancelled = TaskCancelled(
        run_id="r", time=time, task="t", attempt=1, message="pipeline timeout 1m exceeded"
    )
    assert event_document(cancelled)["message"] == "pipeline timeout 1m exceeded"


def test_status_snapshots_leave_defaults_out_and_the_server_reads_them_back_whole() -> None:
    status = PipelineRunStatus(
        phase=RunPhase.RUNNING,
        startedAt=datetime(2030, 1, 1, tzinfo=UTC),
        tasks={
            "build": TaskStatus(name="build", phase=TaskPhase.RUNNING, attempt=1),
            "lint": TaskStatus(name="lint", allowFailure=True),
        },
    )
    document = json.loads(status_document(status))
    assert "allowFailure" not in document["tasks"]["build"]  # what older servers cannot read
    assert document["tasks"]["lint"]["allowFailure"] is True
    assert agent_status(document) == status
