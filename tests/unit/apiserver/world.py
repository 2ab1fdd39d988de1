"""The apiserver's services and controllers on the in-memory store, with a hand-moved clock.

As Argo's `newController` builds its controller on fake clients, `ServerWorld` builds every
service and controller of one replica on `ObjectStore.in_memory`'s key-value store: tests set
up state through the store or the services, let the informers catch up, call a controller's
`reconcile` (or run it whole), and check what the store holds. No process, no sleeps for leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.memory_store import MemoryWorld, settle
from xene.api.agent import Agent
from xene.api.meta import ObjectMeta
from xene.api.pipeline import Pipeline, PipelineObjectSpec, SchedulePhase
from xene.api.run import PipelineRun
from xene.api.workflow import StepSpec, TaskSpec
from xene.apiserver.controllers.agents import AgentController
from xene.apiserver.controllers.base import Controller
from xene.apiserver.controllers.run_gc import RunHistoryCollector
from xene.apiserver.controllers.runner import ControllerRunner
from xene.apiserver.controllers.runs import RunDispatcher
from xene.apiserver.controllers.scheduler import SchedulerController
from xene.apiserver.controllers.workflows import WorkflowController
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.apiserver.services.agents import AgentHello, AgentService, AgentSession
from xene.apiserver.services.cluster_view import ClusterView
from xene.apiserver.services.logstore import FileLogStore
from xene.apiserver.services.objects import ObjectService
from xene.apiserver.services.run_reports import RunReportService
from xene.apiserver.services.runs import RunService
from xene.apiserver.services.triggers import TriggerService
from xene.apiserver.services.webhooks import WebhookService
from xene.backoff import Backoff
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers

LEASE_TTL = 10
IDENTITY = "replica-a"
# The environment webhook triggers of the tests read their secret from (`secretEnv`).
WEBHOOK_ENVIRON = {"HOOK_SECRET": "It's a Secret to Everybody"}


async def eventually(condition: Callable[[], Any], within: float = 5.0, what: str = "it") -> Any:
    """Poll a (sync or async) condition, letting tasks run, until it holds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(0.002)


def one_task_pipeline(name: str = "p", *, workflow: str = "wf", **selector: str) -> Pipeline:
    """A Pipeline `{workflow}.{name}` with one process task, as the workflow controller makes it."""
    return Pipeline(
        metadata=ObjectMeta(name=f"{workflow}.{name}", labels={"xene.dev/workflow": workflow}),
        spec=PipelineObjectSpec(
            workflow=workflow,
            pipeline=name,
            executor="process",
            agentSelector=selector,
            tasks={"main": TaskSpec(steps=[StepSpec(name="hello", run="echo hello")])},
        ),
    )


class ServerWorld:
    """One replica's services and controllers on the in-memory store; see the module docstring."""

    def __init__(self, memory: MemoryWorld, logs_root: Path) -> None:
        self.memory = memory
        self.store: ObjectStore = memory.store
        self.clock = memory.clock
        self.informers = SharedInformers(self.store)
        self.view = ClusterView(self.informers)
        self.objects = ObjectService(self.store)
        self.runs = RunService(self.store, history_limit=3, clock=self.clock.now)
        self.logs = FileLogStore(logs_root, max_bytes_per_step=4096)
        self.agents = AgentService(
            self.store,
            self.view,
            identity=IDENTITY,
            lease_ttl_seconds=LEASE_TTL,
            clock=self.clock.now,
        )
        self.reports = RunReportService(self.store, self.runs, self.logs, clock=self.clock.now)
        self.webhooks = WebhookService(self.runs, environ=WEBHOOK_ENVIRON, clock=self.clock.now)
        self.triggers = TriggerService(self.store, clock=self.clock.now)
        self.agent_admin = AgentAdmin(self.store)
        self.workflows = WorkflowController(self.store, self.informers)
        self.scheduler = SchedulerController(self.store, self.view, clock=self.clock.now)
        self.agent_status = AgentController(self.store, self.view)
        self.dispatcher = RunDispatcher(self.store, self.view, self.runs, clock=self.clock.now)
        self.run_gc = RunHistoryCollector(self.informers, self.runs, self.logs)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def controllers(self) -> list[Controller]:
        """Every controller the leader runs."""
        return [self.workflows, self.scheduler, self.agent_status, self.dispatcher, self.run_gc]

    async def start(self) -> None:
        """Run the informers, the cluster view and the command delivery; wait for the caches."""
        for controller in self.controllers:  # their kinds' informers exist before they run
            for source in controller.sources:
                kind = getattr(source, "kind", None)
                if kind is not None:
                    self.informers.kind(kind)
        self._spawn(self.informers.run())
        self._spawn(self.view.run())
        self._spawn(self.agents.run())
        await self.view.wait_synced()
        await self.informers.wait_synced()

    def run_controllers(self, *controllers: Controller) -> None:
        """Run controllers whole (sources, work queue, workers) until the world stops."""
        for controller in controllers or tuple(self.controllers):
            runner = ControllerRunner(controller, self.informers, retry_backoff=Backoff(0.01, 0.05))
            self._spawn(runner.run())

    def _spawn(self, work: Any) -> None:
        self._tasks.append(asyncio.create_task(work))

    async def stop(self) -> None:
        """Cancel everything started, and wait for it."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def caught_up(self) -> None:
        """Let the informers apply every change written so far (each cache equals its source)."""

        async def matching() -> bool:
            for informer in self.informers:
                listing = await informer.source.list()
                stored = {item.key: item.revision for item in listing.items}
                cached = {key: informer.item_revision(key) for key in informer.keys()}
                if stored != cached:
                    return False
            return True

        await settle()
        await eventually(matching, what="the informers to catch up")
        await settle()

    async def pass_time(self, seconds: float) -> None:
        """Move the clock on (leases expire) and let the informers see it."""
        await self.memory.pass_time(seconds)
        await self.caught_up()

    # -- set-up helpers -------------------------------------------------------------------

    async def create_pipeline(self, name: str = "p", **selector: str) -> Pipeline:
        """A stored Pipeline `wf.{name}`."""
        return await self.store.create(one_task_pipeline(name, **selector))

    async def place(self, pipeline: str, agent: str) -> Pipeline:
        """Schedule a pipeline on an agent by hand (no scheduler running)."""

        def placed(stored: Pipeline) -> Pipeline:
            stored.status.phase = SchedulePhase.SCHEDULED
            stored.status.agent = agent
            return stored

        return await self.store.mutate(Pipeline, pipeline, placed)

    async def connect(
        self,
        name: str,
        *,
        capacity: int = 5,
        runs: list[tuple[str, int]] | None = None,
        **labels: str,
    ) -> AgentSession:
        """An agent's stream opened on this replica (registration, liveness lease)."""
        hello = AgentHello(name=name, labels=labels, capacity=capacity, runs=runs or [])
        session = await self.agents.connect(hello, peer="test")
        await self.caught_up()
        return session

    async def agent(self, name: str) -> Agent:
        """The stored Agent."""
        return await self.store.get(Agent, name)

    async def run(self, name: str) -> PipelineRun:
        """The stored PipelineRun."""
        return await self.store.get(PipelineRun, name)


@contextlib.asynccontextmanager
async def server_world(memory: MemoryWorld, logs_root: Path) -> AsyncIterator[ServerWorld]:
    """A started ServerWorld, stopped on exit."""
    world = ServerWorld(memory, logs_root)
    try:
        await world.start()
        yield world
    finally:
        await world.stop()
