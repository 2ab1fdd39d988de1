"""The engine on a real Docker engine with the busybox test image."""

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
from xene.api.run import RunPhase, StepState, TaskPhase
from xene.engine import PipelineRunner, RunEvent, RunObserver, RunOptions, StepStarted
from xene.engine.executors.docker import LABEL_MANAGED, LABEL_RUN, LABEL_TASK, DockerExecutor

pytestmark = pytest.mark.docker

_run_numbers = itertools.count(1)


@pytest.fixture
async def executor(
    docker_engine: DockerEngine, busybox_image: str
) -> AsyncIterator[DockerExecutor]:
    client = docker.DockerClient(base_url=docker_engine.host)
    executor = DockerExecutor(client, kill_grace=0.5, default_image=busybox_image)
    try:
        yield executor
    finally:
        await executor.close()


def new_run(
    executor: DockerExecutor,
    tasks: Mapping[str, Any],
    *observers: RunObserver,
    parallelism: int = 4,
) -> PipelineRunner:
    return PipelineRunner(
        pipeline(tasks),
        executor,
        run_id=f"docker-test.build.{next(_run_numbers)}",
        observers=observers,
        options=RunOptions(parallelism=parallelism),
    )


def step(run: str, name: str = "main", **fields: object) -> dict[str, object]:
    return {"name": name, "run": run, **fields}


def leftovers(engine: DockerEngine, run_id: str) -> tuple[list[str], list[str]]:
    """Containers and volumes of a run still present."""
    label = f"{LABEL_RUN}={run_id}"
    containers = engine.client.containers.list(all=True, filters={"label": label})
    volumes = engine.client.volumes.list(filters={"label": label})
    return [c.name for c in containers], [v.name for v in volumes]


async def test_fan_out_and_in_through_the_workspace_volume(
    executor: DockerExecutor, docker_engine: DockerEngine
) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        {
            "fetch": {"steps": [step('echo "source of $XENE_TASK" > src.txt')]},
            "left": {"dependencies": ["fetch"], "steps": [step("cat src.txt > left.txt")]},
            "right": {"dependencies": ["fetch"], "steps": [step("echo right > right.txt")]},
            "join": {
                "dependencies": ["left", "right"],
                "steps": [step('cat left.txt right.txt; echo "$XENE_WORKSPACE"; pwd')],
            },
        },
        observer,
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED, status
    assert observer.output("join") == ["source of fetch", "right", "/workspace", "/workspace"]
    assert leftovers(docker_engine, run.run_id) == ([], [])


async def test_a_failed_task_skips_its_dependants_while_others_finish(
    executor: DockerExecutor, docker_engine: DockerEngine
) -> None:
    run = new_run(
        executor,
        {
            "build": {"steps": [step("echo broken >&2; exit 7")]},
            "test": {"dependencies": ["build"], "steps": [step("true")]},
            "lint": {"steps": [step("true")]},
        },
    )
    status = await run.run()

    assert status.phase is RunPhase.FAILED
    assert status.tasks["build"].message == "step 'main' failed with exit code 7"
    assert status.tasks["build"].steps[0].exitCode == 7
    assert status.tasks["test"].phase is TaskPhase.SKIPPED
    assert status.tasks["lint"].phase is TaskPhase.SUCCEEDED
    assert leftovers(docker_engine, run.run_id) == ([], [])


async def test_allowed_failures_and_steps_sharing_one_container(executor: DockerExecutor) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        {
            "t": {
                "workingDir": "sub",
                "steps": [
                    step("echo kept > /tmp/state; exit 3", "flaky", allowFailure=True),
                    step("cat /tmp/state; pwd", "after"),
                ],
            }
        },
        observer,
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED
    flaky, after = status.tasks["t"].steps
    assert (flaky.state, flaky.exitCode) == (StepState.ERROR, 3)
    assert after.state is StepState.SUCCESS
    assert observer.output("t", "after") == ["kept", "/workspace/sub"]


async def test_a_retry_runs_in_a_fresh_container(executor: DockerExecutor) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        {
            "t": {
                "retries": {"limit": 1, "backoff": "100ms"},
                "steps": [
                    step(
                        "if [ -e /tmp/seen ]; then echo reused; fi; touch /tmp/seen; "
                        'echo "attempt $XENE_TASK_ATTEMPT"; [ "$XENE_TASK_ATTEMPT" -ge 2 ]'
                    )
                ],
            }
        },
        observer,
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED
    assert status.tasks["t"].attempt == 2
    assert observer.output("t") == ["attempt 1", "attempt 2"]


async def test_a_step_that_never_ends_is_killed_at_its_timeout(
    executor: DockerExecutor, docker_engine: DockerEngine
) -> None:
    run = new_run(
        executor,
        {
            "t": {
                "steps": [
                    step("trap '' TERM; while :; do sleep 1; done", "forever", timeout="1s"),
                    step("echo unreachable", "after"),
                ]
            }
        },
    )
    started = time.monotonic()
    status = await run.run()

    assert time.monotonic() - started < 10
    task = status.tasks["t"]
    assert task.phase is TaskPhase.FAILED
    assert task.message == "step 'forever' timed out after 1s"
    assert task.steps[1].state is StepState.NOT_EXECUTED
    assert leftovers(docker_engine, run.run_id) == ([], [])


async def test_an_allowed_step_timeout_keeps_the_container_for_the_next_step(
    executor: DockerExecutor,
) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        {
            "t": {
                "steps": [
                    step("sleep 60", "slow", timeout="500ms", allowFailure=True),
                    step("echo still here", "after"),
                ]
            }
        },
        observer,
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED
    assert status.tasks["t"].steps[0].message == "timed out after 500ms"
    assert observer.output("t", "after") == ["still here"]


async def test_cancel_stops_the_step_and_removes_everything(
    executor: DockerExecutor, docker_engine: DockerEngine
) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        {
            "slow": {"steps": [step("echo started; sleep 300")]},
            "later": {"dependencies": ["slow"], "steps": [step("true")]},
        },
        observer,
    )
    running = asyncio.create_task(run.run())
    await observer.wait_for_line("started", within=30)
    assert run.status().tasks["slow"].steps[0].state is StepState.RUNNING
    assert "StepSucceeded" not in observer.kinds(), "the line arrived while the step ran"

    started = time.monotonic()
    await run.cancel("stopped by test")
    status = await running

    assert time.monotonic() - started < 10
    assert status.phase is RunPhase.CANCELLED
    assert status.tasks["slow"].phase is TaskPhase.CANCELLED
    assert status.tasks["later"].phase is TaskPhase.CANCELLED
    assert leftovers(docker_engine, run.run_id) == ([], [])


async def test_a_background_process_does_not_hold_the_step_open(executor: DockerExecutor) -> None:
    observer = RecordingObserver()
    run = new_run(
        executor,
        {
            "t": {
                "steps": [
                    step("sleep 300 & echo launched", "launch"),
                    step("ps | grep -q '[s]leep 300' && echo still running", "check"),
                ]
            }
        },
        observer,
    )
    started = time.monotonic()
    status = await run.run()

    assert time.monotonic() - started < 10
    assert status.phase is RunPhase.SUCCEEDED
    assert observer.output("t") == ["launched", "still running"]


async def test_log_lines_stream_while_the_step_runs(executor: DockerExecutor) -> None:
    observer = RecordingObserver()
    run = new_run(executor, {"t": {"steps": [step("echo first; sleep 1; echo second")]}}, observer)
    running = asyncio.create_task(run.run())
    await observer.wait_for_line("first", within=30)

    assert run.status().tasks["t"].steps[0].state is StepState.RUNNING
    assert observer.output("t") == ["first"]
    status = await running
    assert status.phase is RunPhase.SUCCEEDED
    assert observer.output("t") == ["first", "second"]


async def test_a_missing_image_fails_the_task_with_a_clear_message(
    executor: DockerExecutor, docker_engine: DockerEngine
) -> None:
    run = new_run(
        executor,
        {
            "ghost": {"image": "nope:1", "steps": [step("true")]},
            "real": {"steps": [step("true")]},
        },
    )
    status = await run.run()

    message = status.tasks["ghost"].message or ""
    assert status.tasks["ghost"].phase is TaskPhase.FAILED
    assert message.startswith("image 'nope:1' not found locally and could not be pulled: ")
    assert status.tasks["real"].phase is TaskPhase.SUCCEEDED
    assert leftovers(docker_engine, run.run_id) == ([], [])


class ContainerInspector(RunObserver):
    """Inspects the task's container when its first step starts (the container is running)."""

    def __init__(self, engine: DockerEngine) -> None:
        self._engine = engine
        self.attrs: dict[str, Any] = {}

    async def on_event(self, event: RunEvent) -> None:
        if isinstance(event, StepStarted) and not self.attrs:
            filters = {"label": [f"{LABEL_RUN}={event.run_id}", f"{LABEL_TASK}={event.task}"]}
            found = await asyncio.to_thread(self._engine.client.containers.list, filters=filters)
            self.attrs = found[0].attrs


async def test_containers_get_limits_and_no_privileges(
    executor: DockerExecutor, docker_engine: DockerEngine
) -> None:
    inspector = ContainerInspector(docker_engine)
    observer = RecordingObserver()
    run = new_run(
        executor,
        {
            "limited": {
                "resources": {"memory": "64Mi", "cpus": 0.5},
                "steps": [
                    step(
                        "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
                    )
                ],
            }
        },
        inspector,
        observer,
    )
    status = await run.run()

    assert status.phase is RunPhase.SUCCEEDED
    host = inspector.attrs["HostConfig"]
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000
    assert host["Privileged"] is False
    assert not host.get("CapAdd")
    assert host["NetworkMode"] == "none"
    assert "no-new-privileges" in host["SecurityOpt"]
    labels = inspector.attrs["Config"]["Labels"]
    assert labels[LABEL_MANAGED] == "true" and labels[LABEL_TASK] == "limited"
    mounts = {m["Destination"]: m for m in inspector.attrs["Mounts"]}
    assert mounts["/workspace"]["Type"] == "volume"
    assert observer.output("limited") == [str(64 * 1024 * 1024)]


async def test_output_is_capped_and_binary_is_harmless(executor: DockerExecutor) -> None:
    observer = RecordingObserver()
    run = PipelineRunner(
        pipeline(
            {
                "t": {
                    "image": "busybox:latest",
                    "steps": [
                        step(
                            r"printf '\377\376ok\n'; head -c 200000 /dev/urandom; "
                            "yes xene | head -n 100000"
                        )
                    ],
                }
            }
        ),
        executor,
        run_id=f"docker-test.build.{next(_run_numbers)}",
        observers=[observer],
        options=RunOptions(output_limit=64 * 1024),
    )
    status = await run.run()

    lines = observer.output("t")
    assert status.phase is RunPhase.SUCCEEDED
    assert lines[0] == "\ufffd\ufffdok"
    assert lines[-1].startswith("[xene] output truncated")
    assert sum(1 for line in lines if line.startswith("[xene] output truncated")) == 1


async def test_sweep_removes_what_a_crashed_run_left_behind(
    executor: DockerExecutor, docker_engine: DockerEngine, busybox_image: str
) -> None:
    run_id = "crashed.build.1"
    labels = {LABEL_MANAGED: "true", LABEL_RUN: run_id}
    client = docker_engine.client
    await asyncio.to_thread(client.volumes.create, labels=labels)
    container = await asyncio.to_thread(
        client.containers.run,
        busybox_image,
        ["sleep", "300"],
        labels=labels,
        network_mode="none",
        detach=True,
    )
    assert leftovers(docker_engine, run_id)[0] == [container.name]

    removed = await executor.sweep(run_id)

    assert removed == 2
    assert leftovers(docker_engine, run_id) == ([], [])


async def test_a_webhook_payload_is_a_workspace_file_in_every_container(
    executor: DockerExecutor,
) -> None:
    observer = RecordingObserver()
    payload = '{"title": "$(touch pwned)", "n": 1}'
    spec = {
        "a": {"steps": [step('cat "$XENE_PAYLOAD_FILE"; echo; ls -A')]},
        "b": {"dependencies": ["a"], "steps": [step("cat .xene/payload.json")]},
    }
    runner = PipelineRunner(
        pipeline(spec),
        executor,
        run_id=f"docker-test.build.{next(_run_numbers)}",
        observers=[observer],
        payload=payload,
    )
    status = await runner.run()
    assert status.phase is RunPhase.SUCCEEDED, status
    assert observer.output("a") == [payload, ".xene"]
    assert observer.output("b") == [payload]
