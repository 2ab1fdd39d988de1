"""The PipelineRun kind: one execution of a pipeline, with task and step states."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from xene.api.meta import Resource, StrictModel


class RunPhase(StrEnum):
    """Lifecycle of a run; an interrupted run goes back to Pending (seed 000)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELLED)


class TaskPhase(StrEnum):
    """Lifecycle of a task within a run."""

    WAITING = "Waiting"
    READY = "Ready"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self in (
            TaskPhase.SUCCEEDED,
            TaskPhase.FAILED,
            TaskPhase.SKIPPED,
            TaskPhase.CANCELLED,
        )


class StepState(StrEnum):
    """State of one step (seed 004)."""

    NOT_EXECUTED = "NotExecuted"
    RUNNING = "Running"
    SUCCESS = "Success"
    ERROR = "Error"


TriggerKind = Literal["manual", "cron", "webhook", "local"]


class StepStatus(StrictModel):
    name: str
    state: StepState = StepState.NOT_EXECUTED
    exitCode: int | None = None
    startedAt: datetime | None = None
    finishedAt: datetime | None = None
    message: str | None = None
    allowFailure: bool = False


class TaskStatus(StrictModel):
    name: str
    phase: TaskPhase = TaskPhase.WAITING
    # A Failed task with allowFailure did not fail the run; its dependants ran.
    allowFailure: bool = False
    attempt: int = 0
    startedAt: datetime | None = None
    finishedAt: datetime | None = None
    message: str | None = None
    steps: list[StepStatus] = Field(default_factory=list)


class RunTrigger(StrictModel):
    """What started the run."""

    type: TriggerKind = "manual"
    name: str | None = None
    scheduledTime: datetime | None = None
    deliveryId: str | None = None
    user: str | None = None
    # A webhook's JSON body as delivered (bounded): steps find it in the workspace as a file.
    payload: str | None = None
    # The run this one repeats (`xenectl rerun`): same trigger, parameters and payload.
    rerunOf: str | None = None


class RunAttempt(StrictModel):
    """One try of the run on one agent; a run interrupted by its agent's death gets another."""

    number: int
    agent: str | None = None
    startedAt: datetime | None = None
    finishedAt: datetime | None = None
    result: str | None = None


class PipelineRunSpec(StrictModel):
    workflow: str
    pipeline: str
    number: int = Field(ge=1)
    trigger: RunTrigger = Field(default_factory=RunTrigger)
    parameters: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    commit: str | None = None
    pipelineGeneration: int | None = None


class PipelineRunStatus(StrictModel):
    phase: RunPhase = RunPhase.PENDING
    agent: str | None = None
    attempts: list[RunAttempt] = Field(default_factory=list)
    startedAt: datetime | None = None
    finishedAt: datetime | None = None
    message: str | None = None
    cancelRequested: bool = False
    tasks: dict[str, TaskStatus] = Field(default_factory=dict)


def run_object_name(pipeline_object: str, number: int) -> str:
    """Name of run `number` of the Pipeline object `pipeline_object`."""
    return f"{pipeline_object}.{number}"


class PipelineRun(Resource):
    """One execution of a pipeline, numbered per pipeline (1, 2, 3…)."""

    kind_name = "PipelineRun"
    plural = "pipelineruns"

    kind: Literal["PipelineRun"] = "PipelineRun"
    spec: PipelineRunSpec
    status: PipelineRunStatus = Field(default_factory=PipelineRunStatus)
