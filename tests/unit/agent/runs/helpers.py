"""Building StartRun/CancelRun commands and decoding the reports an outbox holds."""

from __future__ import annotations

import json
from typing import Any

from xene.agent.connection import REPORT_CODEC
from xene.agent.contract import CancelRun, LogChunk, Report, RunUpdate, StartRun
from xene.agent.runs.outbox import Outbox
from xene.api.meta import ObjectMeta
from xene.api.pipeline import Pipeline, PipelineObjectSpec
from xene.api.plan import RunPlan
from xene.api.run import PipelineRun, PipelineRunSpec


def pipeline_object(tasks: dict[str, Any], executor: str = "docker") -> Pipeline:
    return Pipeline(
        metadata=ObjectMeta(name="wf.build"),
        spec=PipelineObjectSpec.model_validate(
            {"workflow": "wf", "pipeline": "build", "executor": executor, "tasks": tasks}
        ),
    )


def run_object(number: int = 1, parameters: dict[str, str] | None = None) -> PipelineRun:
    return PipelineRun(
        metadata=ObjectMeta(name=f"wf.build.{number}"),
        spec=PipelineRunSpec(
            workflow="wf", pipeline="build", number=number, parameters=parameters or {}
        ),
    )


def start_command(
    run: PipelineRun,
    pipeline: Pipeline,
    attempt: int = 1,
    command_id: str = "c1",
    plan: RunPlan | None = None,
) -> StartRun:
    return StartRun(id=command_id, run=run, attempt=attempt, pipeline=pipeline, plan=plan)


def cancel_command(run: str, attempt: int = 0, reason: str = "stop it") -> CancelRun:
    return CancelRun(id="cancel", run=run, attempt=attempt, reason=reason)


def reports(outbox: Outbox) -> list[Report]:
    """Every report the outbox holds, decoded, oldest first."""
    return [REPORT_CODEC.decode(report.data) for report in outbox.after(0, 100_000)]


def updates(outbox: Outbox, run: str | None = None) -> list[dict[str, Any]]:
    """The status snapshots queued, oldest first, each with its events under `events`."""
    found = []
    for update in reports(outbox):
        if isinstance(update, RunUpdate) and (run is None or update.run == run):
            status = json.loads(update.status_json)
            status["events"] = json.loads(update.events_json)
            status["attempt"] = update.attempt
            found.append(status)
    return found


def chunks(outbox: Outbox) -> list[LogChunk]:
    return [report for report in reports(outbox) if isinstance(report, LogChunk)]


def lines_of(outbox: Outbox, task: str, step: str) -> list[str]:
    return [
        line
        for chunk in chunks(outbox)
        if chunk.task == task and chunk.step == step
        for line in chunk.lines
    ]
