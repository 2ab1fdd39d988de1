"""A real AgentDaemon against the apiserver's run side on real etcd: runs in Docker and in
host processes are executed, reported, cancelled, and survive a cut stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.fixtures.docker import DockerEngine
from tests.integration.runs.conftest import TOKEN, RunCluster, eventually
from xene.agent.connection import REPORT_CODEC
from xene.agent.daemon import AgentDaemon
from xene.agent.runs import Outbox, RunManager
from xene.agent.settings import AgentSettings
from xene.api.meta import ObjectMeta
from xene.api.pipeline import Pipeline, PipelineObjectSpec
from xene.api.run import PipelineRun, RunPhase, RunTrigger
from xene.engine import Executor
from xene.engine.executors.docker import LABEL_RUN, DockerExecutor
from xene.engine.executors.process import ProcessExecutor
from xene.engine.executors.registry import LABEL_AGENT, RunExecutors

MANUAL = RunTrigger(type="manual")


def step(run: str, name: str = "main", **fields: Any) -> dict[str, Any]:
    return {"name": name, "run": run, **fields}


async def create_pipeline(
    cluster: RunCluster, tasks: dict[str, Any], *, executor: str = "docker", name: str = "p"
) -> str:
    pipeline = Pipeline(
        metadata=ObjectMeta(name=f"wf.{name}"),
        spec=PipelineObjectSpec.model_validate(
            {"workflow": "wf", "pipeline": name, "executor": executor, "tasks": tasks}
        ),
    )
    await cluster.store.create(pipeline)
    return f"wf.{name}"


class Agent:
    def __init__(self, daemon: AgentDaemon, task: asyncio.Task[None], stop: asyncio.Event):
        self.daemon = daemon
        self.task = task
        self.stop_event = stop

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 30)


StartAgent = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def start_agent(run_cluster: RunCluster, tmp_path: Path) -> AsyncIterator[StartAgent]:
    agents: list[Agent] = []

    async def start(
        name: str = "worker", executors: dict[str, Callable[[], Executor]] | None = None
    ) -> Agent:
        settings = AgentSettings(
            server=[run_cluster.address],
            name=name,
            token=TOKEN,
            data_dir=tmp_path / f"agent-{name}",
            executors=["docker", "process"],
            parallelism=4,
        )
        factories = executors or {
            "process": lambda: ProcessExecutor(tmp_path / "workspaces", kill_grace=1.0)
        }
        manager = RunManager(
            Outbox(settings.data_dir / "outbox", codec=REPORT_CODEC),
            RunExecutors("docker" if "docker" in factories else "process", factories),
            parallelism=4,
        )
        daemon = AgentDaemon(settings, runs=manager)
        stop = asyncio.Event()
        agent = Agent(daemon, asyncio.create_task(daemon.run(stop)), stop)
        agents.append(agent)
        await asyncio.wait_for(daemon.connection.connected.wait(), 15)
        return agent

    try:
        yield start
    finally:
        for agent in agents:
            if not agent.task.done():
                await agent.stop()


async def run_to_end(cluster: RunCluster, pipeline: str, within: float = 60.0) -> PipelineRun:
    created = await cluster.runs.create_run(pipeline, trigger=MANUAL)
    assert created.run is not None
    return await finished(cluster, created.run.metadata.name, within)


async def finished(cluster: RunCluster, name: str, within: float = 60.0) -> PipelineRun:
    async def done() -> PipelineRun | None:
        run = await cluster.store.get(PipelineRun, name)
        return run if run.status.phase.finished else None

    result: PipelineRun = await eventually(done, within, f"run {name} to finish")
    return result


async def lines(cluster: RunCluster, run: str, task: str, step: str = "main") -> list[str]:
    return [record.line for record in await cluster.logs.read(run, task=task, step=step)]


@pytest.fixture
def docker_executors(docker_engine: DockerEngine) -> dict[str, Callable[[], Executor]]:
    return {
        "docker": lambda: DockerExecutor(
            docker.DockerClient(base_url=docker_engine.host),
            kill_grace=1.0,
            labels={LABEL_AGENT: "worker"},
        )
    }


def leftovers(engine: DockerEngine, run: str) -> list[str]:
    """Ids of the containers and names of the volumes of `run` still there."""
    label = {"label": [f"{LABEL_RUN}={run}"]}
    containers = engine.client.api.containers(all=True, quiet=True, filters=label)
    volumes = engine.client.api.volumes(filters=label).get("Volumes") or []
    return [item["Id"] for item in containers] + [item["Name"] for item in volumes]


async def test_a_docker_run_hands_files_through_the_workspace_and_reports_logs(
    run_cluster: RunCluster,
    start_agent: StartAgent,
    docker_engine: DockerEngine,
    busybox_image: str,
    docker_executors: dict[str, Callable[[], Executor]],
) -> None:
    await start_agent(executors=docker_executors)
    image = busybox_image
    pipeline = await create_pipeline(
        run_cluster,
        {
            "fetch": {"image": image, "steps": [step("echo source > /workspace/src.txt")]},
            "left": {
                "image": image,
                "dependencies": ["fetch"],
                "steps": [step('echo "$(cat src.txt)-left" > left.txt')],
            },
            "right": {
                "image": image,
                "dependencies": ["fetch"],
                "steps": [step('echo "$(cat src.txt)-right" > right.txt')],
            },
            "join": {
                "image": image,
                "dependencies": ["left", "right"],
                "steps": [step("cat left.txt right.txt; pwd")],
            },
        },
    )
    run = await run_to_end(run_cluster, pipeline)
    assert run.status.phase is RunPhase.SUCCEEDED, run.status
    assert await lines(run_cluster, run.metadata.name, "join") == [
        "source-left",
        "source-right",
        "/workspace",
    ]
    assert leftovers(docker_engine, run.metadata.name) == []


async def test_a_missing_image_fails_the_run_with_a_clear_message_and_the_agent_goes_on(
    run_cluster: RunCluster,
    start_agent: StartAgent,
    busybox_image: str,
    docker_executors: dict[str, Callable[[], Executor]],
) -> None:
    await start_agent(executors=docker_executors)
    pipeline = await create_pipeline(
        run_cluster,
        {
            "bad": {"image": "xene-test/never-built:1", "steps": [step("true")]},
            "good": {"image": busybox_image, "steps": [step("echo fine")]},
        },
    )
    run = await run_to_end(run_cluster, pipeline)
    assert run.status.phase is RunPhase.FAILED
    message = run.status.tasks["bad"].message or ""
    assert "xene-test/never-built:1" in message and "could not be pulled" in message
    assert run.status.tasks["good"].phase == "Succeeded"
    assert await lines(run_cluster, run.metadata.name, "good") == ["fine"]


async def test_cancel_stops_a_docker_run_and_removes_its_containers(
    run_cluster: RunCluster,
    start_agent: StartAgent,
    docker_engine: DockerEngine,
    busybox_image: str,
    docker_executors: dict[str, Callable[[], Executor]],
) -> None:
    await start_agent(executors=docker_executors)
    pipeline = await create_pipeline(
        run_cluster,
        {
            "long": {"image": busybox_image, "steps": [step("echo waiting; sleep 300")]},
            "after": {
                "image": busybox_image,
                "dependencies": ["long"],
                "steps": [step("true")],
            },
        },
    )
    created = await run_cluster.runs.create_run(pipeline, trigger=MANUAL)
    assert created.run is not None
    name = created.run.metadata.name

    async def waiting() -> bool:
        return await lines(run_cluster, name, "long") == ["waiting"]

    await eventually(waiting, 30, "the step's first line while it runs")
    await run_cluster.runs.request_cancel(name, "stopped by a test")
    run = await finished(run_cluster, name, 30)
    assert run.status.phase is RunPhase.CANCELLED
    assert {t.name: t.phase for t in run.status.tasks.values()} == {
        "long": "Cancelled",
        "after": "Cancelled",
    }
    assert leftovers(docker_engine, name) == []


async def test_reports_of_a_run_survive_a_cut_stream(
    run_cluster: RunCluster, start_agent: StartAgent
) -> None:
    agent = await start_agent()
    pipeline = await create_pipeline(
        run_cluster,
        {"main": {"steps": [step("echo one; sleep 1.5; echo two; sleep 0.5; echo three")]}},
        executor="process",
    )
    created = await run_cluster.runs.create_run(pipeline, trigger=MANUAL)
    assert created.run is not None
    name = created.run.metadata.name

    async def started() -> bool:
        return await lines(run_cluster, name, "main") == ["one"]

    await eventually(started, 20, "the first line")
    # Cut the stream: the agent reconnects and replays what was not acknowledged.
    agent.daemon.connection._end_call("cut by a test")
    run = await finished(run_cluster, name, 30)
    assert run.status.phase is RunPhase.SUCCEEDED
    assert await lines(run_cluster, name, "main") == ["one", "two", "three"]
    assert [(a.number, a.agent) for a in run.status.attempts] == [(1, "worker")]
    await eventually(lambda: len(agent.daemon.outbox) == 0, 10, "every report acknowledged")


async def test_a_clean_stop_removes_the_containers_of_running_runs(
    run_cluster: RunCluster,
    start_agent: StartAgent,
    docker_engine: DockerEngine,
    busybox_image: str,
    docker_executors: dict[str, Callable[[], Executor]],
) -> None:
    agent = await start_agent(executors=docker_executors)
    pipeline = await create_pipeline(
        run_cluster, {"long": {"image": busybox_image, "steps": [step("echo up; sleep 300")]}}
    )
    created = await run_cluster.runs.create_run(pipeline, trigger=MANUAL)
    assert created.run is not None
    name = created.run.metadata.name

    async def running() -> bool:
        return await lines(run_cluster, name, "long") == ["up"]

    await eventually(running, 30, "the step to run")
    await agent.stop()
    assert leftovers(docker_engine, name) == []
    # Not ended by the agent: the server hands the run to the pipeline's next agent.
    run = await run_cluster.store.get(PipelineRun, name)
    assert not run.status.phase.finished


async def test_an_agent_removes_containers_its_killed_predecessor_left(
    start_agent: StartAgent,
    docker_engine: DockerEngine,
    busybox_image: str,
    docker_executors: dict[str, Callable[[], Executor]],
) -> None:
    def leftover(agent: str) -> str:
        container = docker_engine.client.containers.create(
            busybox_image,
            ["sleep", "300"],
            labels={"xene.dev/managed": "true", LABEL_AGENT: agent, LABEL_RUN: "wf.p.9"},
        )
        return str(container.id)

    mine, theirs = leftover("worker"), leftover("someone-else")
    try:
        await start_agent(executors=docker_executors)

        def remaining() -> set[str]:
            # Ids only: other containers may vanish between a listing and an inspection.
            listed = docker_engine.client.api.containers(all=True, quiet=True)
            return {str(item["Id"]) for item in listed}

        await eventually(lambda: mine not in remaining(), 15, "the leftover to be removed")
        assert theirs in remaining()
    finally:
        docker_engine.client.api.remove_container(theirs, force=True)
