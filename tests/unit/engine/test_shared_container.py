"""The engine's side of a pipeline's shared container, on an in-memory executor: started once,
every task attempt opened in it, removed after the run whatever way it ends."""

from __future__ import annotations

import asyncio

from xene.api.run import RunPhase, TaskPhase

from .fakes import FakeExecutor, RecordingObserver, pipeline
from .test_runner import runner, step

SHARED = {"image": "debian:12", "workingDir": "/src", "env": {"LANG": "C"}}


async def test_every_task_runs_in_the_one_shared_container() -> None:
    executor = FakeExecutor()
    spec = pipeline(
        {
            "install": {"steps": [step("echo installed")]},
            "left": {"dependencies": ["install"], "steps": [step("echo left")]},
            "right": {
                "dependencies": ["install"],
                "workingDir": "/opt/tool",
                "retries": {"limit": 1},
                "steps": [step("fail-before-attempt 2")],
            },
        },
        sharedContainer=SHARED,
    )
    status = await runner(spec, executor).run()

    assert status.phase is RunPhase.SUCCEEDED
    (container,) = executor.shared
    assert container.image == "debian:12" and container.env["LANG"] == "C"
    assert container.env["XENE_WORKSPACE"] == "/fake/workspace"
    # Each attempt is opened in the container, in its working directory.
    assert sorted(container.tasks) == [
        ("install", "/src"),
        ("left", "/src"),
        ("right", "/opt/tool"),
        ("right", "/opt/tool"),
    ]
    assert container.closed and executor.cleaned


async def test_a_shared_container_that_cannot_start_fails_the_run_with_the_reason() -> None:
    observer = RecordingObserver()
    executor = FakeExecutor(fail_shared="image 'debian:12' not found")
    spec = pipeline({"t": {"steps": [step("echo never")]}}, sharedContainer=SHARED)
    status = await runner(spec, executor, observer=observer).run()

    assert status.phase is RunPhase.FAILED
    assert status.message == "could not start the shared container: image 'debian:12' not found"
    assert status.tasks["t"].phase is TaskPhase.SKIPPED
    assert status.tasks["t"].message == "not started: the shared container could not be started"
    assert executor.opened == [] and executor.cleaned
    assert observer.kinds()[-1] == "RunFailed"


async def test_cancel_mid_run_removes_the_shared_container() -> None:
    executor = FakeExecutor()
    observer = RecordingObserver()
    spec = pipeline(
        {"a": {"steps": [step("echo started; hang")]}, "b": {"steps": [step("hang")]}},
        sharedContainer=SHARED,
    )
    run = runner(spec, executor, observer=observer)
    task = asyncio.create_task(run.run())
    await observer.wait_for_line("started")
    await run.cancel("by alice")
    status = await task

    assert status.phase is RunPhase.CANCELLED and status.message == "by alice"
    (container,) = executor.shared
    assert container.closed and sorted(executor.closed) == ["a", "b"] and executor.cleaned


async def test_cancel_while_the_shared_container_starts() -> None:
    executor = FakeExecutor(hang_shared=True)
    spec = pipeline({"t": {"steps": [step("echo never")]}}, sharedContainer=SHARED)
    run = runner(spec, executor)
    task = asyncio.create_task(run.run())
    await asyncio.sleep(0.02)
    await run.cancel("changed my mind")
    status = await task
    assert status.phase is RunPhase.CANCELLED
    assert status.tasks["t"].phase is TaskPhase.CANCELLED
    assert executor.opened == [] and executor.cleaned


async def test_stopping_the_agent_removes_the_shared_container_without_an_end() -> None:
    executor = FakeExecutor()
    observer = RecordingObserver()
    spec = pipeline({"a": {"steps": [step("echo started; hang")]}}, sharedContainer=SHARED)
    run = runner(spec, executor, observer=observer)
    task = asyncio.create_task(run.run())
    await observer.wait_for_line("started")
    task.cancel()  # what the agent does to its runs on SIGTERM
    await asyncio.gather(task, return_exceptions=True)

    (container,) = executor.shared
    assert container.closed and executor.closed == ["a"] and executor.cleaned
    assert "RunCancelled" not in observer.kinds()  # left Running, to be retried elsewhere


async def test_host_processes_need_no_shared_container() -> None:
    class HostExecutor(FakeExecutor):
        async def open_shared(self, shared, workspace, env):  # type: ignore[no-untyped-def]
            return None  # like the process executor: the host is shared already

    executor = HostExecutor()
    spec = pipeline({"t": {"steps": [step("echo ok")]}}, sharedContainer=SHARED)
    status = await runner(spec, executor).run()
    assert status.phase is RunPhase.SUCCEEDED and executor.opened == ["t"]
