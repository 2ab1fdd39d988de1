"""Which executor runs a run: created on first use, shared by all runs, closed with the agent.

A pipeline that asks for `process` gets the process executor; every other pipeline gets the
agent's `--executor` (docker by default, `process` on hosts without Docker). The Docker client is
only created when a run needs it, so an agent without Docker still serves process pipelines; when
Docker is unreachable the run fails with a message saying so and the agent keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from xene.agent.executors.process import DEFAULT_KILL_GRACE, ProcessExecutor
from xene.api.workflow import TaskSpec
from xene.engine.executor import Executor, ExecutorError, TaskContext, Workspace

log = logging.getLogger(__name__)

LABEL_AGENT = "xene.dev/agent"
EXECUTOR_KINDS = ("docker", "process")


class UnavailableExecutor(Executor):
    """Stands in for an executor that could not be created: every run fails with `reason`."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    async def prepare_run(self, run_id: str) -> Workspace:
        """Refuse with the reason."""
        raise ExecutorError(self.reason)

    async def open_task(
        self, name: str, task: TaskSpec, workspace: Workspace, env: Mapping[str, str]
    ) -> TaskContext:
        """Refuse with the reason."""
        raise ExecutorError(self.reason)

    async def cleanup_run(self, workspace: Workspace) -> None:
        """Nothing was created."""


def default_factories(
    agent: str,
    workspaces: Path,
    kill_grace: float = DEFAULT_KILL_GRACE,
    *,
    warm_pool_size: int = 0,
    warm_pool_images: Sequence[str] = (),
) -> dict[str, Callable[[], Executor]]:
    """How to create each executor kind for agent `agent` (Docker with a warm pool of
    `warm_pool_size` workspaces when it is above 0)."""

    def docker_executor() -> Executor:
        from xene.agent.executors.docker import DockerExecutor
        from xene.agent.executors.pool import PoolSettings, WarmPool

        # The agent label narrows the sweep of leftovers to this agent's own containers; the
        # pool's carry it too, so the next start of this agent removes what a crash left.
        labels = {LABEL_AGENT: agent}
        if warm_pool_size == 0:
            return DockerExecutor(labels=labels, kill_grace=kill_grace)
        pool = PoolSettings(size=warm_pool_size, images=tuple(warm_pool_images), labels=labels)
        return DockerExecutor(labels=labels, kill_grace=kill_grace, factory=WarmPool.factory(pool))

    def process_executor() -> Executor:
        return ProcessExecutor(workspaces, kill_grace=kill_grace)

    return {"docker": docker_executor, "process": process_executor}


class RunExecutors:
    """The executors of one agent, by kind."""

    def __init__(self, default: str, factories: Mapping[str, Callable[[], Executor]]) -> None:
        if default not in factories:
            raise ValueError(f"unknown executor '{default}' (known: {', '.join(factories)})")
        self.default = default
        self._factories = dict(factories)
        self._created: dict[str, Executor] = {}

    def kind_for(self, pipeline_executor: str) -> str | None:
        """The kind that runs a pipeline asking for `pipeline_executor`; None if none can."""
        if pipeline_executor == "process":
            return "process"
        if pipeline_executor in ("", "docker"):
            return self.default
        return None

    def get(self, kind: str) -> Executor:
        """The executor of `kind`, created now if needed; a placeholder that fails runs with a
        clear message when it cannot be created (Docker not reachable)."""
        executor = self._created.get(kind)
        if executor is not None:
            return executor
        try:
            executor = self._factories[kind]()
        except Exception as exc:
            reason = f"the {kind} executor is not available on this agent: {exc}"
            log.error("%s", reason)
            return UnavailableExecutor(kind, reason)  # not kept: the next run tries again
        self._created[kind] = executor
        return executor

    async def sweep(self) -> None:
        """Remove what an earlier process of this agent left behind (Docker containers)."""
        executor = self.get(self.default) if self.default == "docker" else None
        sweep = getattr(executor, "sweep", None)
        if sweep is not None:
            removed = await sweep()
            if removed:
                log.info("removed %d container(s)/volume(s) left by an earlier run", removed)
        # A warm pool fills only after the sweep, which would otherwise take its containers for
        # leftovers; filling now lets the first run start warm too.
        warm_up = getattr(getattr(executor, "factory", None), "start", None)
        if callable(warm_up):
            warm_up()

    async def close(self) -> None:
        """Close every executor created."""
        created, self._created = self._created, {}
        for kind, executor in created.items():
            try:
                await executor.close()
            except Exception:
                log.exception("closing the %s executor failed", kind)
