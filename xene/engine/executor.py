"""The contract between the run engine and the things that execute steps (Docker, host processes).

Life of a run on an executor:

    workspace = await executor.prepare_run(run_id)        # once per run
    context = await executor.open_task(name, task, workspace, env)   # once per task attempt
    code = await context.exec_step(step, env, on_output)  # each step, in order
    await context.close()                                  # always, even after errors
    await executor.cleanup_run(workspace)                 # always, once per run

Cancelling `exec_step` (the engine does so on timeouts and on cancel) must stop the step's whole
process tree: SIGTERM, then SIGKILL after the executor's grace period, before it re-raises.
Infrastructure problems (no image, Docker down, workspace full) raise ExecutorError with a message
a user can act on; the engine turns it into a failed task and keeps going with the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from xene.api.plan import StepPlan, TaskPlan
from xene.engine.events import OutputStream

OutputCallback = Callable[[OutputStream, bytes], Awaitable[None]]
"""Receives raw output chunks as the step writes them (any size, not split into lines)."""


class ExecutorError(Exception):
    """An executor could not do what was asked; the message is shown to the user as is."""


@dataclass(frozen=True)
class Workspace:
    """The directory a run's tasks share.

    `path` is where steps see it (and what XENE_WORKSPACE holds); `location` is where it lives for
    the executor (a host directory, a volume name).
    """

    run_id: str
    path: str
    location: str


class TaskContext(ABC):
    """One task attempt's context (a container, a working directory) in which its steps run."""

    @abstractmethod
    async def exec_step(
        self, step: StepPlan, env: Mapping[str, str], on_output: OutputCallback
    ) -> int:
        """Run `step.run` with `/bin/sh -c`, stream its output, return its exit code."""

    @abstractmethod
    async def close(self) -> None:
        """Stop whatever is still running and release the context; safe to call twice."""

    async def write_file(self, path: str, data: bytes) -> bool:
        """Write `data` to `path` (as steps see it, parents created) without running a step;
        False when this context can only do it through a step."""
        return False


class Executor(ABC):
    """Creates workspaces and task contexts; one instance serves many runs at once."""

    name: str = ""

    def unavailable(self) -> str | None:
        """Why no run can start on this executor (shown as the run's failure), or None."""
        return None

    @abstractmethod
    async def prepare_run(self, run_id: str) -> Workspace:
        """Create the run's shared workspace."""

    @abstractmethod
    async def open_task(
        self, name: str, task: TaskPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> TaskContext:
        """Start a context for one attempt of task `name` (pull its image, start its container)."""

    @abstractmethod
    async def cleanup_run(self, workspace: Workspace) -> None:
        """Remove the run's workspace and anything of the run still left behind."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most executors hold nothing
        """Release the executor's own resources (clients, threads)."""
