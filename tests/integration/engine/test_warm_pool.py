"""The warm container pool on a real Docker engine: warm starts, one run per workspace, cleanup."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from typing import Any

import docker
import pytest

from tests.fixtures.docker import DockerEngine
from tests.unit.engine.fakes import RecordingObserver, pipeline
from xene.api.run import RunPhase
from xene.engine import PipelineRunner, RunOptions
from xene.engine.executors.docker import LABEL_MANAGED, DockerExecutor
from xene.engine.executors.pool import LABEL_POOL, PoolSettings, WarmPool

pytestmark = pytest.mark.docker

_run_numbers = itertools.count(1)


def pool_of(executor: DockerExecutor) -> WarmPool:
    assert isinstance(executor.factory, WarmPool)
    return executor.factory


@pytest.fixture
async def pooled(docker_engine: DockerEngine, busybox_image: str) -> AsyncIterator[DockerExecutor]:
    """A Docker executor whose containers come from a warm pool of busybox containers."""
    client = docker.DockerClient(base_url=docker_engine.host)
    settings = PoolSettings(size=2, images=[busybox_image], labels={"xene.dev/test": "pool"})
    executor = DockerExecutor(
        client,
        kill_grace=0.5,
        default_image=busybox_image,
        labels={"xene.dev/test": "pool"},
        factory=WarmPool.factory(settings),
    )
    try:
        await pool_of(executor).wait_ready(within=60)
        yield executor
    finally:
        await executor.close()
    assert pool_leftovers(docker_engine, pool_of(executor)) == ([], [])


def new_run(executor: DockerExecutor, tasks: Mapping[str, Any], *observers: Any) -> PipelineRunner:
    return PipelineRunner(
        pipeline(tasks),
        executor,
        run_id=f"pool-test.build.{next(_run_numbers)}",
        observers=observers,
        options=RunOptions(parallelism=4),
    )


def step(run: str, name: str = "main") -> dict[str, object]:
    return {"name": name, "run": run}


def pooled_containers(engine: DockerEngine, pool: WarmPool) -> set[str]:
    """Short ids (what `hostname` prints inside) of the pool's containers now."""
    found = engine.client.containers.list(all=True, filters={"label": f"{LABEL_POOL}={pool.id}"})
    return {container.id[:12] for container in found}


def pool_leftovers(engine: DockerEngine, pool: WarmPool) -> tuple[list[str], list[str]]:
    label = f"{LABEL_POOL}={pool.id}"
    containers = engine.client.containers.list(all=True, filters={"label": label})
    volumes = engine.client.volumes.list(filters={"label": label})
    return [c.name for c in containers], [v.name for v in volumes]


async def test_a_run_starts_in_a_warm_container_and_shares_its_workspace(
    pooled: DockerExecutor, docker_engine: DockerEngine
) -> None:
    pool = pool_of(pooled)
    warm = pooled_containers(docker_engine, pool)
    observer = RecordingObserver()
    run = new_run(
        pooled,
        {
            "first": {"steps": [step("hostname > first.txt; echo from-first > data.txt")]},
            "second": {
                "dependencies": ["first"],
                # Resource limits the pool was not created with: a fresh container, same volume.
                "resources": {"memory": "64Mi"},
                "steps": [step("cat data.txt; pwd")],
            },
            "check": {"dependencies": ["second"], "steps": [step("cat first.txt")]},
        },
        observer,
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED, status
    assert observer.output("second") == ["from-first", "/workspace"]
    [first_host] = observer.output("check")
    assert first_host in warm, "the first task should have run in a pooled container"
    # Each pooled container served one task and is gone; the run's workspace is gone too.
    assert first_host not in pooled_containers(docker_engine, pool)
    assert not pool._claimed


async def test_runs_never_see_each_others_files(
    pooled: DockerExecutor, docker_engine: DockerEngine
) -> None:
    pool = pool_of(pooled)
    observers = [RecordingObserver(), RecordingObserver()]
    writer = new_run(
        pooled,
        {
            "write": {
                # The sleep keeps this run's workspace alive while the other run looks around.
                "steps": [step("echo secret > secret.txt; hostname; ls -a /workspace; sleep 1")],
            }
        },
        observers[0],
    )
    reader = new_run(
        pooled,
        {
            "look": {
                "steps": [
                    step(
                        "hostname; ls -a /workspace; "
                        "find / -name secret.txt -not -path '/proc/*' 2>/dev/null; echo done"
                    )
                ]
            }
        },
        observers[1],
    )
    warm = pooled_containers(docker_engine, pool)

    first, second = await asyncio.gather(writer.run(), reader.run())

    assert first.phase is RunPhase.SUCCEEDED and second.phase is RunPhase.SUCCEEDED
    writer_host, *writer_listing = observers[0].output("write")
    reader_host, *reader_listing = observers[1].output("look")
    assert {writer_host, reader_host} <= warm, "both runs should have had warm containers"
    assert writer_host != reader_host
    assert "secret.txt" in writer_listing
    assert reader_listing == [".", "..", "done"], "the reader saw another run's files"


async def test_the_pool_refills_and_learns_images(
    docker_engine: DockerEngine, busybox_image: str
) -> None:
    client = docker.DockerClient(base_url=docker_engine.host)
    # No image configured: the pool learns busybox from the first task that uses it.
    executor = DockerExecutor(
        client,
        kill_grace=0.5,
        default_image=busybox_image,
        factory=WarmPool.factory(PoolSettings(size=1, learned_images=1)),
    )
    pool = pool_of(executor)
    try:
        status = await new_run(executor, {"t": {"steps": [step("true")]}}).run()
        assert status.phase is RunPhase.SUCCEEDED
        await pool.wait_ready(within=60)
        assert pool.idle_containers() == {busybox_image: 1}

        status = await new_run(executor, {"t": {"steps": [step("true")]}}).run()
        assert status.phase is RunPhase.SUCCEEDED
        await pool.wait_ready(within=60)
        assert pool.idle_containers() == {busybox_image: 1}
    finally:
        await executor.close()
    assert pool_leftovers(docker_engine, pool) == ([], [])


async def test_closing_removes_every_pooled_container_and_volume(
    docker_engine: DockerEngine, busybox_image: str
) -> None:
    client = docker.DockerClient(base_url=docker_engine.host)
    executor = DockerExecutor(
        client,
        default_image=busybox_image,
        factory=WarmPool.factory(PoolSettings(size=3, images=[busybox_image])),
    )
    pool = pool_of(executor)
    await pool.wait_ready(within=60)
    containers, volumes = pool_leftovers(docker_engine, pool)
    assert (len(containers), len(volumes)) == (3, 3)
    running = docker_engine.client.containers.list(
        filters={"label": [f"{LABEL_POOL}={pool.id}", f"{LABEL_MANAGED}=true"]}
    )
    assert len(running) == 3, "idle pooled containers are started, ready for exec"

    await executor.close()
    await asyncio.sleep(1.0)  # a create still running in a Docker thread would show up by now

    assert pool_leftovers(docker_engine, pool) == ([], [])


async def test_closing_while_the_pool_fills_leaves_nothing_behind(
    docker_engine: DockerEngine, busybox_image: str
) -> None:
    client = docker.DockerClient(base_url=docker_engine.host)
    executor = DockerExecutor(
        client,
        default_image=busybox_image,
        factory=WarmPool.factory(PoolSettings(size=4, images=[busybox_image])),
    )
    pool = pool_of(executor)
    pool.start()
    await asyncio.sleep(0.3)  # mid-way through creating containers

    await executor.close()
    await asyncio.sleep(1.0)  # a create still running in a Docker thread would show up by now

    assert pool_leftovers(docker_engine, pool) == ([], [])


async def test_a_shared_container_may_come_warm_from_the_pool(
    pooled: DockerExecutor, docker_engine: DockerEngine, busybox_image: str
) -> None:
    pool = pool_of(pooled)
    warm = pooled_containers(docker_engine, pool)
    observer = RecordingObserver()
    run = PipelineRunner(
        pipeline(
            {
                "install": {"steps": [step("mkdir -p /opt && echo tool > /opt/tool && hostname")]},
                "use": {"dependencies": ["install"], "steps": [step("cat /opt/tool; hostname")]},
                "env": {"steps": [step('echo "$FROM_SHARED"')]},
            },
            sharedContainer={"image": busybox_image, "env": {"FROM_SHARED": "yes"}},
        ),
        pooled,
        run_id=f"pool-test.build.{next(_run_numbers)}",
        observers=[observer],
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED, status
    [host] = observer.output("install")
    assert observer.output("use") == ["tool", host]  # the same container
    assert host in warm, "the shared container should have come from the pool"
    # Started before the run was known, it still gives steps the shared container's env.
    assert observer.output("env") == ["yes"]
    assert host not in pooled_containers(docker_engine, pool)
