"""The contract between the run engine and the things that execute steps (Docker, host processes).

Life of a run on an executor:

    workspace = await executor.prepare_run(run_id)        # once per run
    shared = await executor.open_shared(plan, workspace, env)  # a pipeline's shared container
    context = await executor.open_task(name, task, workspace, env)   # once per task attempt
                            # (or shared.open_task(name, task, env) in the shared container)
    code = await context.exec_step(step, env, on_output)  # each step, in order
    await context.close()                                  # always, even after errors
    await shared.close()                                   # always, once the tasks are done
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

from xene.api.plan import SharedContainerPlan, StepPlan, TaskPlan
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


class SharedContext(ABC):
    """A pipeline's shared container: every task attempt of the run is opened in it, so what one
    task writes anywhere in its file system is there for the next; tasks may run at once."""

    @abstractmethod
    async def open_task(self, name: str, task: TaskPlan, env: Mapping[str, str]) -> TaskContext:
        """A context whose steps are exec'd in the shared container, in the task's working
        directory (created when missing)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop everything still running in the container and remove it; safe to call twice."""


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

    async def open_shared(
        self, shared: SharedContainerPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> SharedContext | None:
        """Start the run's shared container (with the workspace at its usual place, `env` set).

        None when this executor's tasks share everything anyway (host processes): tasks are
        then opened with `open_task` as usual.
        """
        raise ExecutorError(f"the {self.name or 'selected'} executor cannot run a shared container")

    @abstractmethod
    async def cleanup_run(self, workspace: Workspace) -> None:
        """Remove the run's workspace and anything of the run still left behind."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most executors hold nothing
        """Release the executor's own resources (clients, threads)."""
