"""Building StartRun/CancelRun commands and decoding the reports an outbox holds."""

from __future__ import annotations

import json
from typing import Any

from xene.agent.runs.outbox import Outbox
from xene.api.meta import ObjectMeta
from xene.api.pipeline import Pipeline, PipelineObjectSpec
from xene.api.plan import RunPlan
from xene.api.run import PipelineRun, PipelineRunSpec
from xene.proto.xene.v1 import agent_pb2


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
) -> agent_pb2.Command:
    return agent_pb2.Command(
        id=command_id,
        start_run=agent_pb2.StartRun(
            run=run.metadata.name,
            run_json=run.model_dump_json().encode(),
            attempt=attempt,
            pipeline_json=pipeline.model_dump_json().encode(),
            plan_json=plan.model_dump_json().encode() if plan is not None else b"",
        ),
    )


def cancel_command(run: str, attempt: int = 0, reason: str = "stop it") -> agent_pb2.Command:
    return agent_pb2.Command(
        id="cancel", cancel_run=agent_pb2.CancelRun(run=run, attempt=attempt, reason=reason)
    )


def updates(outbox: Outbox, run: str | None = None) -> list[dict[str, Any]]:
    """The status snapshots queued, oldest first, each with its events under `events`."""
    found = []
    for message in outbox.after(0, 100_000):
        if message.WhichOneof("message") == "run_update":
            update = message.run_update
            if run is None or update.run == run:
                status = json.loads(update.status_json)
                status["events"] = json.loads(update.events_json)
                status["attempt"] = update.attempt
                found.append(status)
    return found


def chunks(outbox: Outbox) -> list[agent_pb2.LogChunk]:
    return [
        message.log_chunk
        for message in outbox.after(0, 100_000)
        if message.WhichOneof("message") == "log_chunk"
    ]


def lines_of(outbox: Outbox, task: str, step: str) -> list[str]:
    return [
        line
        for chunk in chunks(outbox)
        if chunk.task == task and chunk.step == step
        for line in chunk.lines
    ]
