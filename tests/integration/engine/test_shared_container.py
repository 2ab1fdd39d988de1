"""A pipeline's shared container on a real Docker engine: one container per run, tasks exec'd in
it, files written anywhere there seen by dependants, parallel tasks at once, nothing left after."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import docker
import pytest

from tests.fixtures.docker import DockerEngine
from tests.unit.engine.fakes import RecordingObserver, pipeline
from xene.api.run import PipelineRunStatus, RunPhase, StepState, TaskPhase
from xene.engine import PipelineRunner, RunOptions
from xene.engine.executors.docker import (
    LABEL_RUN,
    LABEL_SHARED,
    ContainerRequest,
    DockerAPI,
    DockerExecutor,
    FreshContainers,
)

pytestmark = pytest.mark.docker

_run_numbers = itertools.count(1)


@pytest.fixture
async def executor(docker_engine: DockerEngine) -> AsyncIterator[DockerExecutor]:
    client = docker.DockerClient(base_url=docker_engine.host)
    executor = DockerExecutor(client, kill_grace=0.5)
    try:
        yield executor
    finally:
        await executor.close()


def new_run(
    executor: DockerExecutor,
    image: str,
    tasks: Mapping[str, Any],
    observer: RecordingObserver | None = None,
    **pipeline_fields: Any,
) -> PipelineRunner:
    shared = {"image": image, **pipeline_fields.pop("shared", {})}
    return PipelineRunner(
        pipeline(tasks, sharedContainer=shared, **pipeline_fields),
        executor,
        run_id=f"shared-test.build.{next(_run_numbers)}",
        observers=[observer] if observer else [],
        options=RunOptions(parallelism=4),
    )


def step(run: str, name: str = "main", **fields: object) -> dict[str, object]:
    return {"name": name, "run": run, **fields}


def containers_of(engine: DockerEngine, run_id: str) -> list[Any]:
    label = f"{LABEL_RUN}={run_id}"
    return engine.client.containers.list(all=True, filters={"label": label})


def volumes_of(engine: DockerEngine, run_id: str) -> list[Any]:
    return engine.client.volumes.list(filters={"label": f"{LABEL_RUN}={run_id}"})


def assert_nothing_left(engine: DockerEngine, run: PipelineRunner) -> None:
    assert containers_of(engine, run.run_id) == []
    assert volumes_of(engine, run.run_id) == []
    # Also none Docker made on its own (unlabelled) for a container mounting a removed volume.
    named = [
        v.name for v in engine.client.volumes.list() if v.name.startswith(f"xene-{run.run_id}-")
    ]
    assert named == []


async def test_what_a_task_installs_outside_the_workspace_is_there_for_its_dependants(
    executor: DockerExecutor, docker_engine: DockerEngine, busybox_image: str
) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        busybox_image,
        {
            "install": {
                "workingDir": "/opt/tool",
                "steps": [
                    step("mkdir -p bin && printf '#!/bin/sh\\necho tool says $1\\n' > bin/x"),
                    step("chmod +x bin/x && pwd", name="chmod"),
                ],
            },
            "use": {
                "dependencies": ["install"],
                "steps": [step("/opt/tool/bin/x hello; pwd; hostname > /tmp/host")],
            },
            "relative": {
                "dependencies": ["install"],
                "workingDir": "sub/dir",
                "steps": [step("pwd; echo $XENE_WORKSPACE")],
            },
        },
        observer,
        shared={"workingDir": "/src"},
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED, status
    assert observer.output("install", "chmod") == ["/opt/tool"]  # absolute, created
    assert observer.output("use") == ["tool says hello", "/src"]  # the container's workingDir
    assert observer.output("relative") == ["/src/sub/dir", "/workspace"]
    assert_nothing_left(docker_engine, run)


async def test_parallel_tasks_run_at_once_in_the_same_container(
    executor: DockerExecutor, docker_engine: DockerEngine, busybox_image: str
) -> None:
    # Each task marks itself and waits to see the other's mark: both pass only when they run
    # at the same time in the same file system.
    def meet(me: str, other: str) -> dict[str, Any]:
        wait = f"for i in $(seq 100); do [ -e /tmp/{other} ] && exit 0; sleep 0.1; done; exit 1"
        return {"steps": [step(f"touch /tmp/{me}; echo here; {wait}")]}

    observer = RecordingObserver()
    run = new_run(executor, busybox_image, {"a": meet("a", "b"), "b": meet("b", "a")}, observer)
    running = asyncio.create_task(run.run())
    await observer.wait_for_line("here", within=60)
    (container,) = containers_of(docker_engine, run.run_id)
    assert container.labels[LABEL_SHARED] == "true"
    status = await running

    assert status.phase is RunPhase.SUCCEEDED, status
    assert_nothing_left(docker_engine, run)


async def test_cancel_mid_run_removes_the_shared_container(
    executor: DockerExecutor, docker_engine: DockerEngine, busybox_image: str
) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        busybox_image,
        {
            "server": {"steps": [step("sleep 300 & echo started; wait")]},
            "later": {"dependencies": ["server"], "steps": [step("echo never")]},
        },
        observer,
    )
    running = asyncio.create_task(run.run())
    await observer.wait_for_line("started", within=60)
    assert len(containers_of(docker_engine, run.run_id)) == 1
    await run.cancel("by alice")
    status = await running

    assert status.phase is RunPhase.CANCELLED and status.message == "by alice"
    assert status.tasks["server"].phase is TaskPhase.CANCELLED
    assert status.tasks["later"].phase is TaskPhase.CANCELLED
    assert_nothing_left(docker_engine, run)


async def test_a_failing_task_under_allow_failure_lets_its_dependants_run(
    executor: DockerExecutor, docker_engine: DockerEngine, busybox_image: str
) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        busybox_image,
        {
            "lint": {
                "allowFailure": True,
                "steps": [step("echo partial > /tmp/lint-report; exit 3")],
            },
            "report": {"dependencies": ["lint"], "steps": [step("cat /tmp/lint-report")]},
        },
        observer,
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED
    assert status.message == "task 'lint' failed (allowed to fail)"
    assert status.tasks["lint"].phase is TaskPhase.FAILED and status.tasks["lint"].allowFailure
    assert observer.output("report") == ["partial"]
    assert_nothing_left(docker_engine, run)


async def test_a_step_timeout_stops_only_that_step_in_the_shared_container(
    executor: DockerExecutor, docker_engine: DockerEngine, busybox_image: str
) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        busybox_image,
        {
            "stuck": {"steps": [step("sleep 300 & sleep 301", timeout="1s")]},
            # Runs next to it for longer than its timeout plus the kill grace.
            "busy": {"steps": [step("for i in 1 2 3 4 5 6 7 8; do sleep 0.25; done; echo done")]},
        },
        observer,
    )
    status = await run.run()

    stuck = status.tasks["stuck"]
    assert stuck.phase is TaskPhase.FAILED
    assert stuck.message == "step 'main' timed out after 1s"
    assert stuck.steps[0].state is StepState.ERROR
    assert status.tasks["busy"].phase is TaskPhase.SUCCEEDED
    assert observer.output("busy") == ["done"]
    assert_nothing_left(docker_engine, run)


async def test_the_pipeline_timeout_and_wait_timeout_in_a_shared_container(
    executor: DockerExecutor, docker_engine: DockerEngine, busybox_image: str
) -> None:
    run = new_run(
        executor,
        busybox_image,
        {
            "slow": {"steps": [step("sleep 300")]},
            "impatient": {
                "dependencies": ["slow"],
                "waitTimeout": "500ms",
                "steps": [step("echo never")],
            },
        },
        timeout="2s",
    )
    status: PipelineRunStatus = await run.run()

    assert status.phase is RunPhase.FAILED
    assert status.message == "pipeline timeout 2s exceeded"
    assert status.tasks["impatient"].phase is TaskPhase.FAILED
    assert status.tasks["impatient"].message == "dependencies not finished within 500ms"
    assert status.tasks["slow"].phase is TaskPhase.CANCELLED
    assert status.tasks["slow"].steps[0].message == "stopped: pipeline timeout 2s exceeded"
    assert_nothing_left(docker_engine, run)


async def test_a_shared_image_that_does_not_exist_fails_the_run_clearly(
    executor: DockerExecutor, docker_engine: DockerEngine
) -> None:
    run = new_run(executor, "xene-test/no-such-image:1", {"t": {"steps": [step("true")]}})
    status = await run.run()
    assert status.phase is RunPhase.FAILED
    assert (status.message or "").startswith(
        "could not start the shared container: image 'xene-test/no-such-image:1' not found"
    )
    assert status.tasks["t"].phase is TaskPhase.SKIPPED
    assert_nothing_left(docker_engine, run)


async def test_a_container_whose_create_finishes_after_a_cancel_is_removed(
    docker_engine: DockerEngine, busybox_image: str
) -> None:
    # A cancel (of the run, or its timeout) while Docker still creates the container: the create
    # goes on in its thread and used to leave a container after the run's cleanup had looked.
    client = docker.DockerClient(base_url=docker_engine.host)
    api = DockerAPI(client)
    create = client.api.create_container

    def slow_create(*args: Any, **options: Any) -> Any:
        time.sleep(0.4)
        return create(*args, **options)

    client.api.create_container = slow_create  # type: ignore[method-assign]
    run_id = f"shared-test.cancelled-create.{next(_run_numbers)}"
    volume = client.volumes.create(labels={LABEL_RUN: run_id})
    request = ContainerRequest(
        image=busybox_image,
        name=f"xene-test-cancelled-{next(_run_numbers)}",
        labels={LABEL_RUN: run_id},
        workspace_volume=volume.name,
        working_dir="/workspace",
    )
    try:
        acquiring = asyncio.create_task(FreshContainers(api).acquire(request))
        await asyncio.sleep(0.1)
        acquiring.cancel()
        with pytest.raises(asyncio.CancelledError):
            await acquiring
        await asyncio.sleep(0.6)  # past the end of the slow create
        assert containers_of(docker_engine, run_id) == []
    finally:
        for container in containers_of(docker_engine, run_id):
            container.remove(force=True)
        volume.remove(force=True)
        api.close()
