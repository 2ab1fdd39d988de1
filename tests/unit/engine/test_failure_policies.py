"""Task allowFailure, the pipeline timeout and task waitTimeout, on an in-memory executor."""

from __future__ import annotations

import asyncio

from xene.api.run import RunPhase, StepState, TaskPhase
from xene.engine import RunFailed, RunSucceeded, TaskCancelled, TaskFailed

from .fakes import FakeExecutor, RecordingObserver, pipeline
from .test_runner import runner, step


def events_of(observer: RecordingObserver, kind: type) -> list:
    return [event for event in observer.events if isinstance(event, kind)]


# allowFailure


async def test_a_task_allowed_to_fail_does_not_fail_the_run_and_its_dependants_run() -> None:
    observer = RecordingObserver()
    spec = pipeline(
        {
            "lint": {"allowFailure": True, "steps": [step("err style nits; exit 3")]},
            "build": {"dependencies": ["lint"], "steps": [step("echo built")]},
        }
    )
    status = await runner(spec, observer=observer).run()

    assert status.phase is RunPhase.SUCCEEDED
    assert status.message == "task 'lint' failed (allowed to fail)"
    lint = status.tasks["lint"]
    assert (lint.phase, lint.allowFailure) == (TaskPhase.FAILED, True)
    assert lint.message == "step 'main' failed with exit code 3"
    assert status.tasks["build"].phase is TaskPhase.SUCCEEDED
    assert observer.output("build") == ["built"]
    (failed,) = events_of(observer, TaskFailed)
    assert (failed.task, failed.allow_failure) == ("lint", True)
    assert events_of(observer, RunSucceeded)[0].message == status.message


async def test_allowed_failures_are_retried_first_and_other_failures_still_fail_the_run() -> None:
    executor = FakeExecutor()
    spec = pipeline(
        {
            "flaky": {
                "allowFailure": True,
                "retries": {"limit": 1},
                "steps": [step("exit 1")],
            },
            "after": {"dependencies": ["flaky"], "steps": [step("echo ran")]},
            "broken": {"steps": [step("exit 2")]},
            "never": {"dependencies": ["broken"], "steps": [step("echo never")]},
        }
    )
    status = await runner(spec, executor).run()

    assert status.tasks["flaky"].attempt == 2 and status.tasks["flaky"].phase is TaskPhase.FAILED
    assert status.tasks["after"].phase is TaskPhase.SUCCEEDED
    assert status.tasks["never"].phase is TaskPhase.SKIPPED
    assert status.phase is RunPhase.FAILED
    assert status.message == "task 'broken' failed"  # the allowed failure is not blamed


# pipeline timeout


async def test_the_pipeline_timeout_stops_running_tasks_and_fails_the_run() -> None:
    observer = RecordingObserver()
    executor = FakeExecutor()
    spec = pipeline(
        {
            "quick": {"steps": [step("echo done")]},
            "slow": {"steps": [step("echo working; hang")]},
            "later": {"dependencies": ["slow"], "steps": [step("echo never")]},
        },
        timeout="200ms",
    )
    status = await runner(spec, executor, observer=observer).run()

    assert status.phase is RunPhase.FAILED
    assert status.message == "pipeline timeout 200ms exceeded"
    assert not status.cancelRequested
    assert status.tasks["quick"].phase is TaskPhase.SUCCEEDED
    slow, later = status.tasks["slow"], status.tasks["later"]
    assert (slow.phase, slow.message) == (TaskPhase.CANCELLED, "pipeline timeout 200ms exceeded")
    assert slow.steps[0].state is StepState.ERROR
    assert slow.steps[0].message == "stopped: pipeline timeout 200ms exceeded"
    assert later.phase is TaskPhase.CANCELLED
    assert [e.message for e in events_of(observer, RunFailed)] == [status.message]
    assert {e.task: e.message for e in events_of(observer, TaskCancelled)} == {
        "slow": status.message,
        "later": status.message,
    }
    assert executor.closed == ["quick", "slow"] and executor.cleaned  # nothing left behind


async def test_a_run_that_ends_in_time_is_not_touched_by_its_timeout() -> None:
    spec = pipeline({"t": {"steps": [step("sleep 0.01; echo ok")]}}, timeout="5s")
    status = await runner(spec).run()
    assert status.phase is RunPhase.SUCCEEDED and status.message is None


async def test_the_pipeline_timeout_also_covers_starting_the_shared_container() -> None:
    executor = FakeExecutor(hang_shared=True)
    spec = pipeline(
        {"t": {"steps": [step("echo never")]}},
        timeout="100ms",
        sharedContainer={"image": "debian:12"},
    )
    status = await runner(spec, executor).run()
    assert status.phase is RunPhase.FAILED
    assert status.message == "pipeline timeout 100ms exceeded"
    assert status.tasks["t"].phase is TaskPhase.CANCELLED
    assert executor.opened == [] and executor.cleaned


# waitTimeout


async def test_a_task_waiting_too_long_for_its_dependencies_fails_with_the_reason() -> None:
    observer = RecordingObserver()
    spec = pipeline(
        {
            "build": {"steps": [step("sleep 0.4; echo built")]},
            "test": {
                "dependencies": ["build"],
                "waitTimeout": "100ms",
                "steps": [step("echo never")],
            },
            "deploy": {"dependencies": ["test"], "steps": [step("echo never")]},
        }
    )
    status = await runner(spec, observer=observer).run()

    test = status.tasks["test"]
    assert (test.phase, test.attempt) == (TaskPhase.FAILED, 0)
    assert test.message == "dependencies not finished within 100ms"
    assert test.startedAt is None and test.finishedAt is not None
    assert status.tasks["build"].phase is TaskPhase.SUCCEEDED  # it goes on
    assert status.tasks["deploy"].phase is TaskPhase.SKIPPED
    assert status.phase is RunPhase.FAILED and status.message == "task 'test' failed"
    (failed,) = events_of(observer, TaskFailed)
    assert (failed.task, failed.attempt, failed.message) == ("test", 0, test.message)
    # Failed before its dependency finished.
    kinds = [(e.kind, getattr(e, "task", None)) for e in observer.events]
    assert kinds.index(("TaskFailed", "test")) < kinds.index(("TaskSucceeded", "build"))


async def test_a_wait_within_the_timeout_is_fine() -> None:
    spec = pipeline(
        {
            "build": {"steps": [step("sleep 0.02")]},
            "test": {"dependencies": ["build"], "waitTimeout": "5s", "steps": [step("echo ok")]},
        }
    )
    status = await runner(spec).run()
    assert status.phase is RunPhase.SUCCEEDED


async def test_a_wait_timeout_under_allow_failure_lets_dependants_run() -> None:
    spec = pipeline(
        {
            "slow": {"steps": [step("sleep 0.3")]},
            "optional": {
                "dependencies": ["slow"],
                "waitTimeout": "50ms",
                "allowFailure": True,
                "steps": [step("echo never")],
            },
            "report": {"dependencies": ["optional"], "steps": [step("echo reported")]},
        }
    )
    status = await runner(spec).run()
    assert status.tasks["optional"].phase is TaskPhase.FAILED
    assert status.tasks["report"].phase is TaskPhase.SUCCEEDED
    assert status.phase is RunPhase.SUCCEEDED


async def test_a_cancel_does_not_turn_into_wait_timeouts() -> None:
    spec = pipeline(
        {
            "build": {"steps": [step("hang")]},
            "test": {"dependencies": ["build"], "waitTimeout": "50ms", "steps": [step("echo")]},
        }
    )
    run = runner(spec)
    task = asyncio.create_task(run.run())
    await asyncio.sleep(0.01)
    await run.cancel("by alice")
    status = await task
    assert status.phase is RunPhase.CANCELLED
    assert status.tasks["test"].phase is TaskPhase.CANCELLED


async def test_a_wait_deadline_passing_while_the_run_stops_does_not_spin_the_scheduler() -> None:
    spec = pipeline(
        {
            "build": {"steps": [step("echo started; slow-stop 0.4")]},
            "test": {"dependencies": ["build"], "waitTimeout": "100ms", "steps": [step("echo")]},
        }
    )
    observer = RecordingObserver()
    run = runner(spec, observer=observer)
    wakes = 0
    expire = run._expire_waits

    async def counted() -> None:
        nonlocal wakes
        wakes += 1
        await expire()

    run._expire_waits = counted  # type: ignore[method-assign]
    task = asyncio.create_task(run.run())
    await observer.wait_for_line("started")
    run.request_cancel("by alice")  # build takes 0.4s to stop; test's deadline passes meanwhile
    status = await task
    assert status.tasks["test"].phase is TaskPhase.CANCELLED
    assert wakes < 5
