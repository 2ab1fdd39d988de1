"""The DAG engine against an in-memory executor: scheduling, failures, retries, timeouts, cancel."""

from __future__ import annotations

import asyncio
import logging

import pytest

from xene.api.errors import Invalid
from xene.api.run import RunPhase, StepState, TaskPhase
from xene.engine import (
    LogLine,
    PipelineRunner,
    RunEvent,
    RunObserver,
    RunOptions,
    StepFailed,
    TaskRetrying,
    run_variables,
)

from .fakes import FakeClock, FakeExecutor, RecordingObserver, pipeline


def runner(
    spec: object,
    executor: FakeExecutor | None = None,
    *,
    observer: RecordingObserver | None = None,
    clock: FakeClock | None = None,
    parallelism: int = 4,
    variables: dict[str, str] | None = None,
) -> PipelineRunner:
    return PipelineRunner(
        spec,  # type: ignore[arg-type]
        executor or FakeExecutor(),
        run_id="demo.build.1",
        variables=variables,
        observers=[observer] if observer else [],
        options=RunOptions(parallelism=parallelism),
        clock=clock or FakeClock(),
    )


def step(run: str, name: str = "main", **fields: object) -> dict[str, object]:
    return {"name": name, "run": run, **fields}


async def test_a_chain_runs_in_dependency_order_and_reports_each_transition() -> None:
    observer = RecordingObserver()
    spec = pipeline(
        {
            "build": {"steps": [step("echo compiled")]},
            "test": {"dependencies": ["build"], "steps": [step("echo passed")]},
        }
    )
    status = await runner(spec, observer=observer).run()

    assert status.phase is RunPhase.SUCCEEDED
    assert observer.kinds() == [
        "RunStarted",
        "TaskReady",
        "TaskStarted",
        "StepStarted",
        "StepSucceeded",
        "TaskSucceeded",
        "TaskReady",
        "TaskStarted",
        "StepStarted",
        "StepSucceeded",
        "TaskSucceeded",
        "RunSucceeded",
    ]
    assert [event.task for event in observer.events if event.kind == "TaskStarted"] == [  # type: ignore[attr-defined]
        "build",
        "test",
    ]
    assert observer.output("build") == ["compiled"]
    build = status.tasks["build"]
    assert build.phase is TaskPhase.SUCCEEDED and build.attempt == 1
    assert build.steps[0].state is StepState.SUCCESS and build.steps[0].exitCode == 0
    assert build.startedAt and build.finishedAt and build.startedAt < build.finishedAt
    assert status.startedAt and status.finishedAt


async def test_independent_tasks_never_exceed_the_parallelism_limit() -> None:
    executor = FakeExecutor()
    spec = pipeline({f"t{i}": {"steps": [step("sleep 0.02")]} for i in range(7)})
    status = await runner(spec, executor, parallelism=3).run()

    assert status.phase is RunPhase.SUCCEEDED
    assert executor.max_active == 3


async def test_independent_tasks_run_in_parallel() -> None:
    executor = FakeExecutor()
    spec = pipeline({f"t{i}": {"steps": [step("sleep 0.02")]} for i in range(4)})
    await runner(spec, executor, parallelism=8).run()
    assert executor.max_active == 4


async def test_a_shared_slot_limit_caps_tasks_across_runs() -> None:
    executor = FakeExecutor()
    slots = asyncio.Semaphore(2)
    spec = pipeline({f"t{i}": {"steps": [step("sleep 0.02")]} for i in range(3)})
    runs = [
        PipelineRunner(spec, executor, run_id=f"r{n}", slots=slots, clock=FakeClock())
        for n in range(2)
    ]
    await asyncio.gather(*(run.run() for run in runs))
    assert executor.max_active == 2


async def test_a_failed_task_skips_its_transitive_dependants_but_not_independent_tasks() -> None:
    observer = RecordingObserver()
    spec = pipeline(
        {
            "build": {"steps": [step("err compiler exploded; exit 2")]},
            "test": {"dependencies": ["build"], "steps": [step("echo never")]},
            "deploy": {"dependencies": ["test"], "steps": [step("echo never")]},
            "lint": {"steps": [step("sleep 0.02; echo clean")]},
        }
    )
    status = await runner(spec, observer=observer).run()

    assert status.phase is RunPhase.FAILED
    assert status.message == "task 'build' failed"
    assert status.tasks["build"].phase is TaskPhase.FAILED
    assert status.tasks["build"].message == "step 'main' failed with exit code 2"
    assert status.tasks["build"].steps[0].exitCode == 2
    for name in ("test", "deploy"):
        assert status.tasks[name].phase is TaskPhase.SKIPPED
        assert status.tasks[name].message == "task 'build' failed"
        assert status.tasks[name].steps[0].state is StepState.NOT_EXECUTED
    assert status.tasks["lint"].phase is TaskPhase.SUCCEEDED
    assert observer.output("build") == ["compiler exploded"]
    assert observer.kinds("test") == ["TaskSkipped"]


async def test_the_first_failing_step_ends_the_task() -> None:
    spec = pipeline({"t": {"steps": [step("exit 1", "a"), step("echo no", "b")]}})
    status = await runner(spec).run()
    steps = status.tasks["t"].steps
    assert [s.state for s in steps] == [StepState.ERROR, StepState.NOT_EXECUTED]


async def test_an_allowed_failure_lets_the_task_go_on_and_succeed() -> None:
    observer = RecordingObserver()
    spec = pipeline(
        {
            "t": {
                "steps": [
                    step("exit 3", "flaky", allowFailure=True),
                    step("echo after", "next"),
                ]
            }
        }
    )
    status = await runner(spec, observer=observer).run()

    assert status.phase is RunPhase.SUCCEEDED
    flaky, after = status.tasks["t"].steps
    assert flaky.state is StepState.ERROR and flaky.exitCode == 3 and flaky.allowFailure
    assert after.state is StepState.SUCCESS
    failed = [e for e in observer.events if isinstance(e, StepFailed)]
    assert failed[0].allow_failure and failed[0].exit_code == 3


async def test_retries_wait_the_backoff_and_give_each_attempt_a_fresh_context() -> None:
    executor = FakeExecutor()
    clock = FakeClock()
    observer = RecordingObserver()
    spec = pipeline(
        {
            "t": {
                "retries": {"limit": 3, "backoff": "5s"},
                "steps": [step("fail-before-attempt 3")],
            }
        }
    )
    status = await runner(spec, executor, observer=observer, clock=clock).run()

    assert status.phase is RunPhase.SUCCEEDED
    assert status.tasks["t"].attempt == 3
    assert clock.sleeps == [5.0, 5.0]
    assert executor.opened == ["t", "t", "t"] and executor.closed == ["t", "t", "t"]
    assert [e.attempt for e in observer.events if isinstance(e, TaskRetrying)] == [1, 2]
    assert observer.kinds("t").count("TaskStarted") == 3


async def test_a_task_fails_once_its_retries_are_used_up() -> None:
    clock = FakeClock()
    spec = pipeline({"t": {"retries": {"limit": 2, "backoff": "1s"}, "steps": [step("exit 1")]}})
    status = await runner(spec, clock=clock).run()

    assert status.tasks["t"].phase is TaskPhase.FAILED
    assert status.tasks["t"].attempt == 3
    assert clock.sleeps == [1.0, 1.0]


async def test_a_step_timeout_fails_the_step_and_the_task() -> None:
    executor = FakeExecutor()
    spec = pipeline({"t": {"steps": [step("hang", timeout="50ms"), step("echo no", "b")]}})
    status = await runner(spec, executor).run()

    task = status.tasks["t"]
    assert task.phase is TaskPhase.FAILED
    assert task.message == "step 'main' timed out after 50ms"
    assert task.steps[0].state is StepState.ERROR
    assert task.steps[0].message == "timed out after 50ms"
    assert task.steps[1].state is StepState.NOT_EXECUTED
    assert executor.closed == ["t"]


async def test_a_task_timeout_stops_the_running_step() -> None:
    executor = FakeExecutor()
    spec = pipeline(
        {"t": {"timeout": "80ms", "steps": [step("sleep 0.01", "a"), step("hang", "b")]}}
    )
    status = await runner(spec, executor).run()

    task = status.tasks["t"]
    assert task.phase is TaskPhase.FAILED
    assert task.message == "timed out after 80ms"
    assert task.steps[0].state is StepState.SUCCESS
    assert task.steps[1].state is StepState.ERROR
    assert task.steps[1].message == "stopped: the task timed out after 80ms"
    assert executor.closed == ["t"]


async def test_a_timed_out_attempt_is_retried() -> None:
    spec = pipeline(
        {
            "t": {
                "timeout": "50ms",
                "retries": {"limit": 1},
                "steps": [step("fail-before-attempt 2; hang")],
            }
        }
    )
    status = await runner(spec).run()
    assert status.tasks["t"].attempt == 2
    assert status.tasks["t"].message == "timed out after 50ms"


async def test_cancel_stops_running_tasks_and_cancels_the_unfinished_ones() -> None:
    executor = FakeExecutor()
    observer = RecordingObserver()
    spec = pipeline(
        {
            "done": {"steps": [step("echo quick")]},
            "slow": {"dependencies": ["done"], "steps": [step("echo started; hang")]},
            "after": {"dependencies": ["slow"], "steps": [step("echo never")]},
            "queued": {"dependencies": ["done"], "steps": [step("echo never")]},
        }
    )
    run = runner(spec, executor, observer=observer, parallelism=1)
    running = asyncio.create_task(run.run())
    await observer.wait_for_line("started")
    await run.cancel("stopped by alice")
    status = await running

    assert status.phase is RunPhase.CANCELLED
    assert status.message == "stopped by alice"
    assert status.tasks["done"].phase is TaskPhase.SUCCEEDED
    slow = status.tasks["slow"]
    assert slow.phase is TaskPhase.CANCELLED and slow.attempt == 1
    assert slow.steps[0].state is StepState.ERROR and slow.steps[0].message == "cancelled"
    for name in ("after", "queued"):
        assert status.tasks[name].phase is TaskPhase.CANCELLED
        assert status.tasks[name].attempt == 0
    assert executor.closed == ["done", "slow"]
    assert executor.cleaned == ["fake-demo.build.1"]
    assert observer.kinds()[-1] == "RunCancelled"


async def test_an_observer_can_request_a_cancel_of_its_own_run() -> None:
    class CancelOnLine(RecordingObserver):
        run: PipelineRunner

        async def on_log(self, line: LogLine) -> None:
            await super().on_log(line)
            self.run.request_cancel("abort requested")

    observer = CancelOnLine()
    run = runner(pipeline({"t": {"steps": [step("echo go; hang")]}}), observer=observer)
    observer.run = run
    status = await asyncio.wait_for(run.run(), 5)

    assert status.phase is RunPhase.CANCELLED
    assert status.cancelRequested
    assert status.tasks["t"].phase is TaskPhase.CANCELLED


async def test_cancel_before_the_run_starts_runs_nothing() -> None:
    executor = FakeExecutor()
    run = runner(pipeline({"t": {"steps": [step("echo no")]}}), executor)
    await run.cancel()
    status = await run.run()
    assert status.phase is RunPhase.CANCELLED
    assert status.tasks["t"].phase is TaskPhase.CANCELLED
    assert executor.opened == [] and executor.cleaned == []


async def test_cancel_after_the_run_ended_changes_nothing() -> None:
    run = runner(pipeline({"t": {"steps": [step("echo ok")]}}))
    await run.run()
    await run.cancel()
    assert run.status().phase is RunPhase.SUCCEEDED


async def test_an_executor_error_fails_the_task_with_its_message_and_others_go_on() -> None:
    executor = FakeExecutor(fail_open={"bad": "image 'nope:1' not found locally"})
    spec = pipeline(
        {
            "bad": {"steps": [step("echo no")]},
            "good": {"steps": [step("echo yes")]},
        }
    )
    status = await runner(spec, executor).run()

    assert status.tasks["bad"].phase is TaskPhase.FAILED
    assert status.tasks["bad"].message == "image 'nope:1' not found locally"
    assert status.tasks["good"].phase is TaskPhase.SUCCEEDED
    assert status.phase is RunPhase.FAILED


async def test_an_executor_error_during_a_step_is_the_step_error() -> None:
    spec = pipeline({"t": {"steps": [step("broken container vanished")]}})
    status = await runner(spec).run()
    task = status.tasks["t"]
    assert task.phase is TaskPhase.FAILED
    assert task.steps[0].message == "container vanished"
    assert task.message == "step 'main': container vanished"


async def test_a_workspace_that_cannot_be_prepared_fails_the_run() -> None:
    executor = FakeExecutor(fail_prepare="disk full")
    status = await runner(pipeline({"t": {"steps": [step("echo no")]}}), executor).run()
    assert status.phase is RunPhase.FAILED
    assert status.message == "could not prepare the run's workspace: disk full"
    assert status.tasks["t"].phase is TaskPhase.SKIPPED


async def test_a_failing_observer_does_not_break_the_run(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(RunObserver):
        async def on_event(self, event: RunEvent) -> None:
            raise RuntimeError("observer bug")

        async def on_log(self, line: LogLine) -> None:
            raise RuntimeError("observer bug")

    healthy = RecordingObserver()
    run = PipelineRunner(
        pipeline({"t": {"steps": [step("echo hi")]}}),
        FakeExecutor(),
        run_id="r",
        observers=[Broken(), healthy],
        clock=FakeClock(),
    )
    with caplog.at_level(logging.ERROR):
        status = await run.run()
    assert status.phase is RunPhase.SUCCEEDED
    assert healthy.kinds()[-1] == "RunSucceeded" and healthy.output("t") == ["hi"]
    assert "observer bug" in caplog.text


async def test_steps_get_layered_environment_and_run_variables() -> None:
    executor = FakeExecutor()
    spec = pipeline(
        {
            "t": {
                "env": {"B": "task", "C": "task"},
                "steps": [step("echo", env={"C": "step"})],
            }
        },
        env={"A": "pipeline", "B": "pipeline", "XENE_COMMIT": "user-set"},
    )
    variables = run_variables(
        run_id="demo.build.1", workflow="demo", pipeline="build", run_number=1, commit="abc123"
    )
    await runner(spec, executor, variables=variables).run()

    env = executor.calls[0].env
    assert (env["A"], env["B"], env["C"]) == ("pipeline", "task", "step")
    assert env["XENE_COMMIT"] == "abc123"
    assert env["XENE_RUN_NUMBER"] == "1" and env["XENE_PIPELINE"] == "build"
    assert (env["XENE_TASK"], env["XENE_STEP"], env["XENE_TASK_ATTEMPT"]) == ("t", "main", "1")
    assert env["XENE_WORKSPACE"] == "/fake/workspace"


async def test_a_bad_environment_variable_name_is_refused_when_the_plan_is_compiled() -> None:
    with pytest.raises(ValueError, match="'1BAD' is not an environment variable name"):
        pipeline({"t": {"env": {"1BAD": "x"}, "steps": [step("echo")]}})
    with pytest.raises(ValueError, match="'A' contains a NUL character"):
        pipeline({"t": {"steps": [step("echo", env={"A": "a\x00b"})]}})


async def test_log_lines_carry_task_step_stream_and_numbers() -> None:
    observer = RecordingObserver()
    spec = pipeline({"t": {"steps": [step("echo one; err two; echo three")]}})
    await runner(spec, observer=observer).run()
    assert [(line.stream, line.number, line.line) for line in observer.lines] == [
        ("stdout", 1, "one"),
        ("stderr", 2, "two"),
        ("stdout", 3, "three"),
    ]
    assert {(line.run_id, line.task, line.step, line.attempt) for line in observer.lines} == {
        ("demo.build.1", "t", "main", 1)
    }


async def test_output_beyond_the_limit_is_dropped_after_one_marker_line() -> None:
    observer = RecordingObserver()
    commands = "; ".join(f"echo line-{i:03}-{'x' * 50}" for i in range(100))
    run = PipelineRunner(
        pipeline({"t": {"steps": [step(commands)]}}),
        FakeExecutor(),
        run_id="r",
        observers=[observer],
        options=RunOptions(output_limit=1024),
        clock=FakeClock(),
    )
    status = await run.run()

    lines = observer.output("t")
    assert status.phase is RunPhase.SUCCEEDED
    assert len(lines) == 1024 // 60 + 1  # 59 characters and a newline per line, then the marker
    assert lines[-1].startswith("[xene] output truncated")
    assert "1 KiB" in lines[-1]
    assert sum(1 for line in lines if "truncated" in line) == 1
    assert [line.truncated for line in observer.lines][-2:] == [False, True]


async def test_binary_output_is_decoded_with_replacement_characters() -> None:
    observer = RecordingObserver()
    spec = pipeline({"t": {"steps": [step("raw ff00fe41420a")]}})
    status = await runner(spec, observer=observer).run()
    assert status.phase is RunPhase.SUCCEEDED
    assert observer.output("t") == ["\ufffd\x00\ufffdAB"]


async def test_every_event_can_be_serialised() -> None:
    observer = RecordingObserver()
    spec = pipeline({"t": {"steps": [step("exit 1")]}})
    await runner(spec, observer=observer).run()
    failed = next(e for e in observer.events if isinstance(e, StepFailed)).to_dict()
    assert failed["kind"] == "StepFailed" and failed["exit_code"] == 1
    assert isinstance(failed["time"], str) and isinstance(failed["started_at"], str)


async def test_status_is_a_snapshot_the_caller_cannot_corrupt() -> None:
    run = runner(pipeline({"t": {"steps": [step("echo")]}}))
    snapshot = run.status()
    snapshot.tasks["t"].phase = TaskPhase.FAILED
    assert run.status().tasks["t"].phase is TaskPhase.WAITING


async def test_a_cycle_or_unknown_dependency_is_refused_up_front() -> None:
    with pytest.raises(Invalid, match="cycle"):
        runner(
            pipeline(
                {
                    "a": {"dependencies": ["b"], "steps": [step("echo")]},
                    "b": {"dependencies": ["a"], "steps": [step("echo")]},
                }
            )
        )
    with pytest.raises(Invalid, match="chekout"):
        runner(pipeline({"a": {"dependencies": ["chekout"], "steps": [step("echo")]}}))


async def test_a_runner_runs_once() -> None:
    run = runner(pipeline({"t": {"steps": [step("echo")]}}))
    await run.run()
    with pytest.raises(RuntimeError, match="already started"):
        await run.run()
