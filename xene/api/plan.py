"""The compiled plan of a run: what the engine executes, built once from a pipeline's spec.

`compile_plan` resolves everything that does not depend on the run itself, so the engine never
re-reads what the user wrote: durations in seconds, defaults applied (retries, step names by
position), the `env` layers of pipeline, task and step merged (later wins; the run's own
variables are added at run time and win over them), memory sizes in bytes, task working
directories under a shared container, and the task order. The server compiles the plan of every
run it hands to an agent (in StartRun, next to the pipeline) and `xenectl run --local` compiles
its own; an agent compiles one only when an older server sent none.

Working directories stay relative when the user wrote them so: each executor resolves them
against its workspace (`/workspace` in a container, the run's directory on the host). An
absolute one is used as it is, and created when missing.
"""

from __future__ import annotations

import posixpath
from typing import Protocol

from pydantic import Field

from xene.api.durations import parse_duration
from xene.api.executors import DEFAULT_EXECUTOR
from xene.api.graph import dag_order
from xene.api.meta import StrictModel
from xene.api.validation import env_name_problem
from xene.api.workflow import ResourceLimits, SharedContainerSpec, StepSpec, TaskSpec, parse_memory

PLAN_VERSION = 1


class StepPlan(StrictModel):
    """One step: its command, its merged environment and its limits."""

    name: str
    run: str
    # The shared container's, pipeline, task and step `env`, later layers winning.
    env: dict[str, str] = Field(default_factory=dict)
    allowFailure: bool = False
    timeoutSeconds: float | None = None


class TaskPlan(StrictModel):
    """One task: where its steps run, what it waits for, and what happens when it fails."""

    name: str
    image: str | None = None
    # As written (relative to the workspace) or absolute; under a shared container, already
    # joined onto the container's working directory.
    workingDir: str | None = None
    memoryBytes: int | None = None
    cpus: float | None = None
    # The shared container's, pipeline and task `env`: what the task's container starts with.
    env: dict[str, str] = Field(default_factory=dict)
    dependencies: list[str] = Field(default_factory=list)
    timeoutSeconds: float | None = None
    retryLimit: int = 0
    retryBackoffSeconds: float = 0.0
    allowFailure: bool = False
    waitTimeoutSeconds: float | None = None
    steps: list[StepPlan] = Field(min_length=1)


class SharedContainerPlan(StrictModel):
    """The one container every task of the run is exec'd in."""

    image: str
    workingDir: str | None = None
    memoryBytes: int | None = None
    cpus: float | None = None
    env: dict[str, str] = Field(default_factory=dict)


class RunPlan(StrictModel):
    """A pipeline ready to execute; the engine's only input besides the run's variables."""

    version: int = PLAN_VERSION
    executor: str = DEFAULT_EXECUTOR
    timeoutSeconds: float | None = None
    sharedContainer: SharedContainerPlan | None = None
    # In the order the tasks are written.
    tasks: dict[str, TaskPlan] = Field(min_length=1)
    # Tasks in levels: each task's dependencies sit in earlier levels.
    levels: list[list[str]] = Field(default_factory=list)


class CompilablePipeline(Protocol):
    """What compile_plan reads: a Workflow's PipelineSpec or a Pipeline object's spec."""

    @property
    def executor(self) -> str: ...
    @property
    def env(self) -> dict[str, str]: ...
    @property
    def tasks(self) -> dict[str, TaskSpec]: ...
    @property
    def timeout(self) -> str | None: ...
    @property
    def sharedContainer(self) -> SharedContainerSpec | None: ...


def compile_plan(pipeline: CompilablePipeline) -> RunPlan:
    """The plan of `pipeline`; raises Invalid for a task graph with unknown dependencies or a
    cycle, ValueError for a value validation would have refused."""
    levels = dag_order(pipeline.tasks)
    shared = pipeline.sharedContainer
    return RunPlan(
        executor=pipeline.executor or DEFAULT_EXECUTOR,
        timeoutSeconds=_seconds(pipeline.timeout),
        sharedContainer=_shared_plan(shared) if shared is not None else None,
        tasks={
            # Every exec carries the shared container's env too: a container taken from the warm
            # pool was started before the run's env was known.
            name: _task_plan(name, task, {**(shared.env if shared else {}), **pipeline.env}, shared)
            for name, task in pipeline.tasks.items()
        },
        levels=levels,
    )


def step_name(step: StepSpec, index: int) -> str:
    """The step's name, or `step-N` by its position (from 1) when it has none."""
    return step.name or f"step-{index + 1}"


def _seconds(duration: str | None) -> float | None:
    return parse_duration(duration) if duration else None


def _memory(resources: ResourceLimits | None) -> int | None:
    return parse_memory(resources.memory) if resources and resources.memory else None


def _cpus(resources: ResourceLimits | None) -> float | None:
    return resources.cpus if resources else None


def _checked(env: dict[str, str]) -> dict[str, str]:
    """`env` when every name and value can be an environment variable; else ValueError."""
    for name, value in env.items():
        problem = env_name_problem(name)
        if problem:
            raise ValueError(problem)
        if "\x00" in value:
            raise ValueError(f"environment variable '{name}' contains a NUL character")
    return env


def _shared_plan(shared: SharedContainerSpec) -> SharedContainerPlan:
    return SharedContainerPlan(
        image=shared.image,
        workingDir=shared.workingDir,
        memoryBytes=_memory(shared.resources),
        cpus=_cpus(shared.resources),
        env=_checked(dict(shared.env)),
    )


def _working_dir(task: TaskSpec, shared: SharedContainerSpec | None) -> str | None:
    """The task's own directory; under a shared container a relative one (or none) is taken
    from the container's working directory."""
    if shared is None or not shared.workingDir or not task.workingDir:
        return task.workingDir or (shared.workingDir if shared else None)
    return posixpath.join(shared.workingDir, task.workingDir)


def _task_plan(
    name: str, task: TaskSpec, base_env: dict[str, str], shared: SharedContainerSpec | None
) -> TaskPlan:
    task_env = _checked({**base_env, **task.env})
    return TaskPlan(
        name=name,
        image=task.image,
        workingDir=_working_dir(task, shared),
        memoryBytes=_memory(task.resources),
        cpus=_cpus(task.resources),
        env=task_env,
        dependencies=list(task.dependencies),
        timeoutSeconds=_seconds(task.timeout),
        retryLimit=task.retries.limit if task.retries else 0,
        retryBackoffSeconds=parse_duration(task.retries.backoff) if task.retries else 0.0,
        allowFailure=task.allowFailure,
        waitTimeoutSeconds=_seconds(task.waitTimeout),
        steps=[
            StepPlan(
                name=step_name(step, index),
                run=step.run,
                env={**task_env, **_checked(step.env)},
                allowFailure=step.allowFailure,
                timeoutSeconds=_seconds(step.timeout),
            )
            for index, step in enumerate(task.steps)
        ],
    )
