"""The Pipeline kind: derived by the server from one entry of a Workflow, placed on one agent."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from xene.api.durations import Duration
from xene.api.executors import DEFAULT_EXECUTOR
from xene.api.meta import Resource, StrictModel
from xene.api.workflow import SharedContainerSpec, TaskSpec, TriggerSpec


class SchedulePhase(StrEnum):
    """Server-side status: has the scheduler placed the pipeline on an agent."""

    SCHEDULED = "Scheduled"
    NOT_SCHEDULED = "NotScheduled"


class AgentPipelinePhase(StrEnum):
    """Agent-side status of a pipeline (seed 004)."""

    STARTING_UP = "StartingUp"
    RUNNING = "Running"
    ERROR = "Error"
    SUCCESS = "Success"
    SHUTTING_DOWN = "ShuttingDown"
    UNKNOWN = "Unknown"


def pipeline_object_name(workflow: str, pipeline: str) -> str:
    """Name of the Pipeline object derived from `pipeline` of `workflow`."""
    return f"{workflow}.{pipeline}"


def unschedulable_reason(
    name: str, phase: str | None, reason: str | None, message: str | None
) -> str | None:
    """Why runs of pipeline `name` cannot start now: the scheduler found no agent for it (it is
    NotScheduled with a reason); None while it is placed or not yet decided."""
    if phase != SchedulePhase.NOT_SCHEDULED or not reason:
        return None
    return f"pipeline {name} is NotScheduled ({reason}): {message or 'no agent can take it'}"


class PipelineObjectSpec(StrictModel):
    """The pipeline as the agent needs it: tasks, resolved triggers, executor, selector."""

    workflow: str
    pipeline: str
    triggers: list[TriggerSpec] = Field(default_factory=list)
    executor: str = DEFAULT_EXECUTOR
    agentSelector: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    sharedContainer: SharedContainerSpec | None = None
    timeout: Duration | None = None
    tasks: dict[str, TaskSpec]


class PipelineStatus(StrictModel):
    """Placement by the scheduler and the agent's view of the pipeline."""

    phase: SchedulePhase = SchedulePhase.NOT_SCHEDULED
    agent: str | None = None
    reason: str | None = None
    message: str | None = None
    agentPhase: AgentPipelinePhase | None = None
    agentMessage: str | None = None
    scheduledAt: datetime | None = None
    observedGeneration: int | None = None
    lastRun: int | None = None


class Pipeline(Resource):
    """A task DAG with its triggers, derived from a Workflow and scheduled onto one agent."""

    kind_name = "Pipeline"
    plural = "pipelines"

    kind: Literal["Pipeline"] = "Pipeline"
    spec: PipelineObjectSpec
    status: PipelineStatus = Field(default_factory=PipelineStatus)
