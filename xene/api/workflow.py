"""The Workflow kind: what a user authors and applies (see DESIGN.md, Workflow file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from xene.api.durations import Duration
from xene.api.executors import DEFAULT_EXECUTOR
from xene.api.meta import Resource, StrictModel

ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]
TriggerType = Literal["cron", "webhook"]


class StepSpec(StrictModel):
    """One shell command run inside its task's context."""

    name: str
    run: str
    description: str | None = None
    allowFailure: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = None


class RetryPolicy(StrictModel):
    """How often and how soon a failed task is tried again."""

    limit: int = Field(default=0, ge=0, le=20)
    backoff: Duration = "0s"


class ResourceLimits(StrictModel):
    """Container limits: memory like `512Mi`/`1g`, cpus as a fraction of cores."""

    memory: str | None = None
    cpus: float | None = Field(default=None, gt=0)

    @field_validator("memory")
    @classmethod
    def _memory_has_unit(cls, value: str | None) -> str | None:
        if value is not None:
            parse_memory(value)
        return value


def parse_memory(text: str) -> int:
    """Bytes in a memory size such as `512Mi`, `1G`, `64m`; raises ValueError otherwise."""
    units = {
        "": 1,
        "k": 1000,
        "m": 1000**2,
        "g": 1000**3,
        "ki": 1024,
        "mi": 1024**2,
        "gi": 1024**3,
        "b": 1,
        "kb": 1024,
        "mb": 1024**2,
        "gb": 1024**3,
    }
    value = text.strip().lower()
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = value[len(number) :]
    problem = f"'{text}' is not a memory size: use e.g. 256Mi, 1Gi, 512m"
    if not number or unit not in units:
        raise ValueError(problem)
    try:
        size = int(float(number) * units[unit])
    except (ValueError, OverflowError):  # `1.2.3`, `inf`, `1e999`
        raise ValueError(problem) from None
    if size < 0:
        raise ValueError(problem)
    return size


class TaskSpec(StrictModel):
    """Steps that share one context (one container, one workspace), plus their dependencies."""

    description: str | None = None
    image: str | None = None
    steps: list[StepSpec] = Field(min_length=1)
    dependencies: list[str] = Field(default_factory=list)
    timeout: Duration | None = None
    retries: RetryPolicy | None = None
    env: dict[str, str] = Field(default_factory=dict)
    workingDir: str | None = None
    resources: ResourceLimits | None = None
    # A failed task does not fail the run; its dependants still run.
    allowFailure: bool = False
    # Waiting longer than this for the dependencies fails the task.
    waitTimeout: Duration | None = None


class SharedContainerSpec(StrictModel):
    """One container for a whole run: every task's steps are exec'd in it, one after another.

    What a task installs or writes anywhere in the container's file system is there for its
    dependants (the original Xene's semantics). Steps run in the task's absolute workingDir,
    else this workingDir, else /workspace.
    """

    image: str
    workingDir: str | None = None
    resources: ResourceLimits | None = None
    env: dict[str, str] = Field(default_factory=dict)


class TriggerSpec(StrictModel):
    """A way to start runs: a cron schedule or a signed webhook."""

    name: str
    type: TriggerType
    description: str | None = None
    schedule: str | None = None
    timezone: str | None = None
    concurrencyPolicy: ConcurrencyPolicy = "Allow"
    startingDeadline: Duration | None = None
    suspend: bool = False
    secretEnv: str | None = None
    secretFile: str | None = None


class PipelineSpec(StrictModel):
    """A task DAG with its triggers, executor and agent selector, as written in a Workflow."""

    description: str | None = None
    triggers: list[str] = Field(default_factory=list)
    executor: str = DEFAULT_EXECUTOR
    agentSelector: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    sharedContainer: SharedContainerSpec | None = None
    # The whole run; on expiry its running tasks are cancelled and the run fails.
    timeout: Duration | None = None
    tasks: dict[str, TaskSpec] = Field(min_length=1)


class WorkflowSpec(StrictModel):
    """Triggers and pipelines of one workflow."""

    triggers: list[TriggerSpec] = Field(default_factory=list)
    pipelines: dict[str, PipelineSpec] = Field(min_length=1)


class WorkflowStatus(StrictModel):
    """What the server derived from the workflow the last time it reconciled it."""

    observedGeneration: int | None = None
    pipelines: list[str] = Field(default_factory=list)
    triggers: list[str] = Field(default_factory=list)


class Workflow(Resource):
    """The user-authored object: `xenectl apply -f workflow.yaml`."""

    kind_name = "Workflow"
    plural = "workflows"

    kind: Literal["Workflow"] = "Workflow"
    spec: WorkflowSpec
    status: WorkflowStatus = Field(default_factory=WorkflowStatus)
