"""The registry of executor kinds: how a pipeline's `executor` becomes an Executor.

One table (`FACTORIES`) maps each kind of `xene.api.executors` to the function that builds its
executor from one `ExecutorOptions`; the agent (through `RunExecutors`) and `xenectl run --local`
(through `create_executor`) both build executors here and nowhere else. The Docker SDK is only
imported when a Docker executor is built, so hosts without Docker still serve process pipelines.

Which kind runs a pipeline: `process` pipelines get the process executor, `docker` (the default)
ones the host's default kind (an agent started with `--executor process` serves them with host
processes), and `external:<provider>` ones the external executor of that provider.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xene.api.executors import DOCKER, EXTERNAL, HOST_KINDS, PROCESS, parse_executor
from xene.api.plan import TaskPlan
from xene.engine.executor import Executor, ExecutorError, TaskContext, Workspace
from xene.engine.executors.external import ExternalExecutor
from xene.engine.executors.process import DEFAULT_KILL_GRACE, ProcessExecutor

log = logging.getLogger(__name__)

LABEL_AGENT = "xene.dev/agent"


@dataclass(frozen=True)
class ExecutorOptions:
    """Everything any executor kind is configured with; each kind reads its own part."""

    # Where the process executor makes each run's workspace directory.
    workspaces: Path
    kill_grace: float = DEFAULT_KILL_GRACE
    # Added to every container and volume the Docker executor creates (narrows its sweeps).
    labels: Mapping[str, str] = field(default_factory=dict)
    # Warm workspaces the Docker executor keeps ready (0: none), and the images they hold.
    warm_pool_size: int = 0
    warm_pool_images: Sequence[str] = ()
    # Ping the Docker engine when the executor is built, to fail early with a clear message.
    check_docker: bool = False


def docker_executor(options: ExecutorOptions) -> Executor:
    """A Docker executor on the engine at DOCKER_HOST (with a warm pool when configured)."""
    import docker
    import docker.errors

    from xene.engine.executors.docker import DockerExecutor
    from xene.engine.executors.pool import PoolSettings, WarmPool

    try:
        client = docker.from_env()
        if options.check_docker:
            client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        raise ExecutorError(f"cannot reach Docker ({exc}); start it or set DOCKER_HOST") from exc
    labels = dict(options.labels)
    if options.warm_pool_size == 0:
        return DockerExecutor(client, labels=labels, kill_grace=options.kill_grace)
    pool = PoolSettings(
        size=options.warm_pool_size, images=tuple(options.warm_pool_images), labels=labels
    )
    return DockerExecutor(
        client, labels=labels, kill_grace=options.kill_grace, factory=WarmPool.factory(pool)
    )


def process_executor(options: ExecutorOptions) -> Executor:
    """Host processes in a fresh directory per run under `options.workspaces`."""
    return ProcessExecutor(options.workspaces, kill_grace=options.kill_grace)


Factory = Callable[[ExecutorOptions], Executor]

FACTORIES: Mapping[str, Factory] = {DOCKER: docker_executor, PROCESS: process_executor}
"""How each host kind is built; external executors are built per provider."""


def create_executor(executor: str, options: ExecutorOptions) -> Executor:
    """The executor a pipeline's `executor` field names; ExecutorError when it cannot be built
    (Docker unreachable), ValueError for a name that is no executor."""
    name = parse_executor(executor)
    if name.kind == EXTERNAL:
        return ExternalExecutor(name.provider or "")
    return FACTORIES[name.kind](options)


class UnavailableExecutor(Executor):
    """Stands in for an executor that could not be created: every run fails with `reason`."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def unavailable(self) -> str:
        """The reason it could not be created."""
        return self.reason

    async def prepare_run(self, run_id: str) -> Workspace:
        """Refuse with the reason."""
        raise ExecutorError(self.reason)

    async def open_task(
        self, name: str, task: TaskPlan, workspace: Workspace, env: Mapping[str, str]
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
    """How to create each host kind for agent `agent` (Docker with a warm pool of
    `warm_pool_size` workspaces when it is above 0)."""
    # The agent label narrows the sweep of leftovers to this agent's own containers; the
    # pool's carry it too, so the next start of this agent removes what a crash left.
    options = ExecutorOptions(
        workspaces=workspaces,
        kill_grace=kill_grace,
        labels={LABEL_AGENT: agent},
        warm_pool_size=warm_pool_size,
        warm_pool_images=tuple(warm_pool_images),
    )
    return {kind: _bound(FACTORIES[kind], options) for kind in HOST_KINDS}


def _bound(factory: Factory, options: ExecutorOptions) -> Callable[[], Executor]:
    return lambda: factory(options)


class RunExecutors:
    """The executors of one host, by kind: created on first use, shared by all runs, closed
    together. `factories` builds each host kind; external ones are built per provider."""

    def __init__(self, default: str, factories: Mapping[str, Callable[[], Executor]]) -> None:
        if default not in factories:
            raise ValueError(f"unknown executor '{default}' (known: {', '.join(factories)})")
        self.default = default
        self._factories = dict(factories)
        self._created: dict[str, Executor] = {}
        # Set while no sweep is pending: runs wait for it before they touch an executor.
        self._swept = asyncio.Event()
        self._swept.set()

    def hold_until_swept(self) -> None:
        """Make runs wait (`wait_swept`) until the next `sweep()` has ended."""
        self._swept.clear()

    async def wait_swept(self) -> None:
        """Return once no sweep is pending (at once unless `hold_until_swept` was called)."""
        await self._swept.wait()

    def kind_for(self, pipeline_executor: str) -> str | None:
        """The key of the executor that runs a pipeline asking for `pipeline_executor`
        (`external:<provider>` for external ones); None if none can."""
        try:
            name = parse_executor(pipeline_executor)
        except ValueError:
            return None
        if name.kind == EXTERNAL:
            return str(name)
        if name.kind == PROCESS:
            return PROCESS if PROCESS in self._factories else None
        return self.default

    def get(self, kind: str) -> Executor:
        """The executor of `kind`, created now if needed; a placeholder that fails runs with a
        clear message when it cannot be created (Docker not reachable)."""
        executor = self._created.get(kind)
        if executor is not None:
            return executor
        try:
            factory = self._factories.get(kind)
            if factory is not None:
                executor = factory()
            else:
                external = parse_executor(kind)
                if external.kind != EXTERNAL:
                    raise ValueError(f"no executor '{kind}' on this host")
                executor = ExternalExecutor(external.provider or "")
        except Exception as exc:
            reason = f"the {kind} executor is not available on this agent: {exc}"
            log.error("%s", reason)
            return UnavailableExecutor(kind, reason)  # not kept: the next run tries again
        self._created[kind] = executor
        return executor

    async def sweep(self) -> None:
        """Remove what an earlier process of this agent left behind (Docker containers); runs
        held by `hold_until_swept` go on afterwards, whatever the sweep came to."""
        try:
            executor = self.get(self.default) if self.default == DOCKER else None
            sweep = getattr(executor, "sweep", None)
            if sweep is not None:
                removed = await sweep()
                if removed:
                    log.info("removed %d container(s)/volume(s) left by an earlier run", removed)
        finally:
            self._swept.set()
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
