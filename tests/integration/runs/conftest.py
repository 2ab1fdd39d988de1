"""Pipelines, runs and an in-process apiserver run side (view, agents, dispatcher) on real etcd."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from xene.api.meta import ObjectMeta
from xene.api.pipeline import Pipeline, PipelineObjectSpec, SchedulePhase
from xene.api.workflow import StepSpec, TaskSpec
from xene.apiserver.controllers.agents import AgentController
from xene.apiserver.controllers.run_gc import RunHistoryCollector
from xene.apiserver.controllers.runner import ControllerRunner
from xene.apiserver.controllers.runs import RunDispatcher
from xene.apiserver.controllers.scheduler import SchedulerController
from xene.apiserver.grpc.agents import AgentServicer
from xene.apiserver.grpc.server import create_agent_server
from xene.apiserver.services.agents import AgentService
from xene.apiserver.services.cluster_view import ClusterView
from xene.apiserver.services.logstore import FileLogStore
from xene.apiserver.services.run_reports import RunReportService
from xene.apiserver.services.runs import RunService
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers

LEASE_TTL = 2
TOKEN = "agent-secret"


async def create_pipeline(
    store: ObjectStore, name: str = "p", *, workflow: str = "wf", **selector: str
) -> Pipeline:
    """A stored Pipeline `{workflow}.{name}` with one process task."""
    pipeline = Pipeline(
        metadata=ObjectMeta(name=f"{workflow}.{name}"),
        spec=PipelineObjectSpec(
            workflow=workflow,
            pipeline=name,
            executor="process",
            agentSelector=selector,
            tasks={"main": TaskSpec(steps=[StepSpec(name="hello", run="echo hello")])},
        ),
    )
    return await store.create(pipeline)


async def schedule(store: ObjectStore, pipeline: str, agent: str) -> None:
    """Place a pipeline on an agent by hand (no scheduler running)."""

    def place(stored: Pipeline) -> Pipeline:
        stored.status.phase = SchedulePhase.SCHEDULED
        stored.status.agent = agent
        return stored

    await store.mutate(Pipeline, pipeline, place)


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
def runs(etcd_store: ObjectStore) -> RunService:
    """A RunService keeping 3 finished runs per pipeline."""
    return RunService(etcd_store, history_limit=3)


@dataclass
class RunCluster:
    store: ObjectStore
    view: ClusterView
    agents: AgentService
    runs: RunService
    logs: FileLogStore
    reports: RunReportService
    address: str


@pytest.fixture
async def run_cluster(etcd_store: ObjectStore, tmp_path: Path) -> AsyncIterator[RunCluster]:
    """The apiserver's agent and run side in this process: gRPC, scheduler, dispatcher, GC."""
    informers = SharedInformers(etcd_store)
    view = ClusterView(informers)
    agents = AgentService(
        etcd_store, view, identity="test-replica", lease_ttl_seconds=LEASE_TTL, token=TOKEN
    )
    runs = RunService(etcd_store, history_limit=3)
    logs = FileLogStore(tmp_path / "logs", max_bytes_per_step=4096)
    reports = RunReportService(etcd_store, runs, logs)
    server, port = create_agent_server(AgentServicer(agents, reports), "127.0.0.1:0")
    await server.start()
    cluster = RunCluster(etcd_store, view, agents, runs, logs, reports, f"127.0.0.1:{port}")
    controllers = [
        SchedulerController(etcd_store, view),
        AgentController(etcd_store, view),
        RunDispatcher(etcd_store, view, runs),
        RunHistoryCollector(informers, runs, logs),
    ]
    tasks = [
        asyncio.create_task(informers.run()),
        asyncio.create_task(view.run()),
        asyncio.create_task(agents.run()),
        *(asyncio.create_task(ControllerRunner(c, informers).run()) for c in controllers),
    ]
    try:
        yield cluster
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await server.stop(0)
