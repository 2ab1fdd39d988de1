"""An in-process agent side of the apiserver (view, service, gRPC, controllers) on real etcd,
and in-process agents that record when each of their pipelines starts and stops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from xene.agent.connection import refuse_commands
from xene.agent.contract import CommandHandler
from xene.agent.daemon import AgentDaemon
from xene.agent.settings import AgentSettings
from xene.agent.supervisor import AssignedPipeline
from xene.apiserver.controllers.agents import AgentController
from xene.apiserver.controllers.runner import ControllerRunner
from xene.apiserver.controllers.scheduler import SchedulerController
from xene.apiserver.grpc.agents import AgentServicer
from xene.apiserver.grpc.server import create_agent_server
from xene.apiserver.services.agents import AgentService
from xene.apiserver.services.cluster_view import ClusterView
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers

LEASE_TTL = 2
TOKEN = "agent-secret"


@dataclass
class PipelineEvent:
    at: float
    agent: str
    what: str  # "start" | "stop"
    pipeline: str


class RecordingHandler:
    """Serves a pipeline by waiting; records when it starts and stops."""

    def __init__(self, agent: str, events: list[PipelineEvent]) -> None:
        self.agent = agent
        self.events = events

    async def run_pipeline(self, assigned: AssignedPipeline) -> None:
        self.events.append(PipelineEvent(time.monotonic(), self.agent, "start", assigned.name))
        try:
            await asyncio.Future()
        finally:
            self.events.append(PipelineEvent(time.monotonic(), self.agent, "stop", assigned.name))


@dataclass
class RunningAgent:
    daemon: AgentDaemon
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def running(self) -> list[str]:
        return [a.name for a in self.daemon.supervisor.assigned]


@dataclass
class Cluster:
    store: ObjectStore
    view: ClusterView
    service: AgentService
    address: str
    events: list[PipelineEvent] = field(default_factory=list)
    agents: list[RunningAgent] = field(default_factory=list)

    async def start_agent(
        self,
        name: str,
        *,
        address: str | None = None,
        command_handler: CommandHandler = refuse_commands,
        **settings: Any,
    ) -> RunningAgent:
        options: dict[str, Any] = {"capacity": 5, "token": TOKEN, "executors": ["process"]}
        options.update(settings)
        agent_settings = AgentSettings(server=[address or self.address], name=name, **options)
        daemon = AgentDaemon(
            agent_settings,
            handler=RecordingHandler(name, self.events),
            command_handler=command_handler,
        )
        stop = asyncio.Event()
        running = RunningAgent(daemon, stop, asyncio.create_task(daemon.run(stop)))
        self.agents.append(running)
        return running


async def eventually(
    condition: Callable[[], Any], within: float = 10.0, what: str = "condition"
) -> Any:
    """Poll a (sync or async) condition until truthy."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def cluster(etcd_store: ObjectStore) -> AsyncIterator[Cluster]:
    """View, agent service, gRPC server, scheduler and agent controllers, all in this process."""
    informers = SharedInformers(etcd_store)
    view = ClusterView(informers)
    service = AgentService(
        etcd_store, view, identity="test-replica", lease_ttl_seconds=LEASE_TTL, token=TOKEN
    )
    server, port = create_agent_server(AgentServicer(service), "127.0.0.1:0")
    await server.start()
    cluster = Cluster(etcd_store, view, service, f"127.0.0.1:{port}")
    tasks = [
        asyncio.create_task(informers.run()),
        asyncio.create_task(view.run()),
        asyncio.create_task(service.run()),
        asyncio.create_task(
            ControllerRunner(SchedulerController(etcd_store, view), informers).run()
        ),
        asyncio.create_task(ControllerRunner(AgentController(etcd_store, view), informers).run()),
    ]
    try:
        yield cluster
    finally:
        for agent in cluster.agents:
            agent.task.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(a.task for a in cluster.agents), *tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await server.stop(0)
