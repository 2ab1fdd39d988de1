"""The engine with real host processes: workspace, live output, kills, environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine.fakes import RecordingObserver, pipeline
from xene.api.run import PipelineRunStatus, RunPhase, StepState, TaskPhase
from xene.engine import PipelineRunner, RunOptions, run_variables
from xene.engine.executors.process import ProcessExecutor


def step(run: str, name: str = "main", **fields: object) -> dict[str, object]:
    return {"name": name, "run": run, **fields}


def make_runner(
    spec: Mapping[str, Any],
    tmp_path: Path,
    observer: RecordingObserver | None = None,
    *,
    kill_grace: float = 0.5,
    parallelism: int = 4,
    output_limit: int = 1024 * 1024,
    variables: dict[str, str] | None = None,
    **pipeline_fields: object,
) -> PipelineRunner:
    return PipelineRunner(
        pipeline(spec, **pipeline_fields),
        ProcessExecutor(tmp_path / "workspaces", kill_grace=kill_grace),
        run_id="local.build.1",
        variables=variables,
        observers=[observer] if observer else [],
        options=RunOptions(parallelism=parallelism, output_limit=output_limit),
    )


def process_is_gone(pid: int) -> bool:
    """True when `pid` no longer runs (it may linger as a zombie until init reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


async def test_tasks_hand_files_to_their_dependants_through_the_workspace(
    tmp_path: Path,
) -> None:
    observer = RecordingObserver()
    spec = {
        "fetch": {"steps": [step("echo source > src.txt")]},
        "left": {"dependencies": ["fetch"], "steps": [step("cat src.txt > left.txt")]},
        "right": {"dependencies": ["fetch"], "steps": [step("echo right > right.txt")]},
        "join": {
            "dependencies": ["left", "right"],
            "steps": [step('cat left.txt right.txt; echo "ws=$XENE_WORKSPACE"; pwd')],
        },
    }
    status = await make_runner(spec, tmp_path, observer).run()

    assert status.phase is RunPhase.SUCCEEDED
    lines = observer.output("join")
    assert lines[:2] == ["source", "right"]
    workspace = lines[2].removeprefix("ws=")
    assert lines[3] == workspace and workspace.startswith(str(tmp_path / "workspaces"))
    assert not await asyncio.to_thread(os.path.isdir, workspace), "the workspace is removed"


async def test_log_lines_arrive_while_the_step_is_still_running(tmp_path: Path) -> None:
    observer = RecordingObserver()
    run = make_runner(
        {"t": {"steps": [step("echo first; sleep 1; echo second")]}}, tmp_path, observer
    )
    running = asyncio.create_task(run.run())
    await observer.wait_for_line("first")

    assert run.status().tasks["t"].steps[0].state is StepState.RUNNING
    assert "StepSucceeded" not in observer.kinds()
    status = await running
    assert status.phase is RunPhase.SUCCEEDED
    assert observer.output("t") == ["first", "second"]


async def test_a_step_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    # The shell ignores SIGTERM (and so does its child): only the SIGKILL after the grace ends it.
    spec = {
        "t": {
            "steps": [
                step(
                    "trap '' TERM; sleep 30 & echo $! > child.pid; echo $$ > shell.pid; wait",
                    timeout="300ms",
                ),
                step("echo unreachable", "after"),
            ]
        }
    }
    started = time.monotonic()
    executor_root = tmp_path / "ws"
    run = PipelineRunner(
        pipeline(spec),
        ProcessExecutor(executor_root, workspace=tmp_path / "fixed", kill_grace=0.3),
        run_id="r",
    )
    status = await run.run()

    assert time.monotonic() - started < 5
    task = status.tasks["t"]
    assert task.phase is TaskPhase.FAILED
    assert task.message == "step 'main' timed out after 300ms"
    assert task.steps[1].state is StepState.NOT_EXECUTED
    for name in ("child.pid", "shell.pid"):
        pid = int((tmp_path / "fixed" / name).read_text())
        assert process_is_gone(pid), f"{name} {pid} survived the timeout"


async def test_cancel_stops_the_running_step_and_marks_the_run_cancelled(tmp_path: Path) -> None:
    observer = RecordingObserver()
    spec = {
        "slow": {"steps": [step("echo $$ > slow.pid; echo started; sleep 30")]},
        "next": {"dependencies": ["slow"], "steps": [step("echo never")]},
    }
    run = PipelineRunner(
        pipeline(spec),
        ProcessExecutor(workspace=tmp_path, kill_grace=0.5),
        run_id="r",
        observers=[observer],
    )
    running = asyncio.create_task(run.run())
    await observer.wait_for_line("started")
    started = time.monotonic()
    await run.cancel()
    status = await running

    assert time.monotonic() - started < 3
    assert status.phase is RunPhase.CANCELLED
    assert status.tasks["slow"].phase is TaskPhase.CANCELLED
    assert status.tasks["next"].phase is TaskPhase.CANCELLED
    assert process_is_gone(int((tmp_path / "slow.pid").read_text()))


async def test_the_pipeline_timeout_kills_the_running_steps_and_fails_the_run(
    tmp_path: Path,
) -> None:
    spec = {
        "slow": {"steps": [step("sleep 30 & echo $! > child.pid; echo $$ > shell.pid; wait")]},
        "waiting": {
            "dependencies": ["slow"],
            "waitTimeout": "300ms",
            "steps": [step("echo never")],
        },
    }
    run = PipelineRunner(
        pipeline(spec, timeout="1s"),
        ProcessExecutor(workspace=tmp_path, kill_grace=0.5),
        run_id="r",
    )
    started = time.monotonic()
    status = await run.run()

    assert time.monotonic() - started < 5
    assert status.phase is RunPhase.FAILED
    assert status.message == "pipeline timeout 1s exceeded"
    assert status.tasks["slow"].phase is TaskPhase.CANCELLED
    waiting = status.tasks["waiting"]
    assert (waiting.phase, waiting.message) == (
        TaskPhase.FAILED,
        "dependencies not finished within 300ms",
    )
    for name in ("child.pid", "shell.pid"):
        pid = int((tmp_path / name).read_text())
        assert process_is_gone(pid), f"{name} {pid} survived the pipeline timeout"


async def test_a_background_process_does_not_hold_the_step_open(tmp_path: Path) -> None:
    observer = RecordingObserver()
    spec = {
        "t": {
            "steps": [
                step("sleep 30 & echo $! > bg.pid; echo launched", "launch"),
                step("echo next", "next"),
            ]
        }
    }
    run = PipelineRunner(
        pipeline(spec),
        ProcessExecutor(workspace=tmp_path, kill_grace=0.5),
        run_id="r",
        observers=[observer],
    )
    started = time.monotonic()
    status = await run.run()

    assert time.monotonic() - started < 5
    assert status.phase is RunPhase.SUCCEEDED
    assert observer.output("t") == ["launched", "next"]
    assert process_is_gone(int((tmp_path / "bg.pid").read_text())), "closing the task kills it"


async def test_a_flood_of_output_is_capped_without_blocking_the_step(tmp_path: Path) -> None:
    observer = RecordingObserver()
    spec = {"t": {"steps": [step("i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done")]}}
    status = await make_runner(spec, tmp_path, observer, output_limit=4096).run()

    lines = observer.output("t")
    assert status.phase is RunPhase.SUCCEEDED
    assert lines[0] == "line-0"
    assert lines[-1].startswith("[xene] output truncated")
    assert sum(len(line) + 1 for line in lines[:-1]) <= 4096
    assert status.tasks["t"].steps[0].exitCode == 0


async def test_binary_output_does_not_break_the_run(tmp_path: Path) -> None:
    observer = RecordingObserver()
    spec = {"t": {"steps": [step(r"printf '\377\376\000ok\n'; head -c 3000 /dev/urandom")]}}
    status = await make_runner(spec, tmp_path, observer).run()
    assert status.phase is RunPhase.SUCCEEDED
    assert observer.output("t")[0] == "\ufffd\ufffd\x00ok"


async def test_failure_exit_codes_and_allowed_failures(tmp_path: Path) -> None:
    spec = {
        "t": {
            "steps": [
                step("exit 4", "allowed", allowFailure=True),
                step("echo fine", "fine"),
                step("false", "fails"),
                step("echo never", "never"),
            ]
        },
        "child": {"dependencies": ["t"], "steps": [step("true")]},
    }
    status = await make_runner(spec, tmp_path).run()

    steps = {s.name: s for s in status.tasks["t"].steps}
    assert (steps["allowed"].state, steps["allowed"].exitCode) == (StepState.ERROR, 4)
    assert steps["fine"].state is StepState.SUCCESS
    assert (steps["fails"].state, steps["fails"].exitCode) == (StepState.ERROR, 1)
    assert steps["never"].state is StepState.NOT_EXECUTED
    assert status.tasks["child"].phase is TaskPhase.SKIPPED
    assert status.phase is RunPhase.FAILED


async def test_variables_reach_steps_only_as_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SECRET", "do-not-leak")
    observer = RecordingObserver()
    hostile = "$(touch pwned); `touch pwned2`"
    variables = run_variables(
        run_id="local.build.1",
        workflow="demo",
        pipeline="build",
        run_number=7,
        commit=hostile,
        extra={"XENE_WEBHOOK_REF": "refs/heads/main"},
    )
    spec = {
        "t": {
            "env": {"GREETING": "hi"},
            "steps": [
                step(
                    'echo "$XENE_COMMIT|$XENE_RUN_NUMBER|$XENE_WEBHOOK_REF|$GREETING|'
                    '$XENE_TASK/$XENE_STEP|${AGENT_SECRET:-unset}"; ls'
                )
            ],
        }
    }
    status = await make_runner(spec, tmp_path, observer, variables=variables).run()

    assert status.phase is RunPhase.SUCCEEDED
    output = observer.output("t")
    assert output[0] == f"{hostile}|7|refs/heads/main|hi|t/main|unset"
    assert "pwned" not in output and "pwned2" not in output


async def test_a_relative_working_dir_is_created_inside_the_workspace(tmp_path: Path) -> None:
    observer = RecordingObserver()
    spec = {"t": {"workingDir": "src/app", "steps": [step('pwd; echo "$XENE_WORKSPACE"')]}}
    await make_runner(spec, tmp_path, observer).run()
    cwd, workspace = observer.output("t")
    assert cwd == os.path.join(workspace, "src/app")


async def test_an_absolute_working_dir_is_used_as_it_is_and_created_when_missing(
    tmp_path: Path,
) -> None:
    observer = RecordingObserver()
    tool = tmp_path / "outside" / "opt" / "tool"  # absolute, outside the run's workspace
    spec = {
        "install": {
            "workingDir": str(tool),
            "steps": [step("pwd; printf '#!/bin/sh\\necho tool says $1\\n' > x; chmod +x x")],
        },
        "use": {"dependencies": ["install"], "steps": [step(f"{tool}/x hi; pwd")]},
    }
    status = await make_runner(spec, tmp_path, observer).run()

    assert status.phase is RunPhase.SUCCEEDED, status
    assert observer.output("install") == [str(tool)]
    used, cwd = observer.output("use")
    assert used == "tool says hi" and cwd != str(tool)  # the dependant's own directory
    # The run's workspace is removed; a directory outside it is the user's and stays.
    assert (tool / "x").exists() and not any((tmp_path / "workspaces").iterdir())


async def test_an_unusable_working_dir_fails_the_task_with_the_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spec = {"t": {"workingDir": str(blocker / "sub"), "steps": [step("true")]}}
    status = await make_runner(spec, tmp_path).run()
    task = status.tasks["t"]
    assert task.phase is TaskPhase.FAILED
    assert (task.message or "").startswith(
        f"task 't': working directory '{blocker / 'sub'}' is not usable"
    )


async def test_parallel_tasks_overlap_in_time_up_to_the_limit(tmp_path: Path) -> None:
    spec = {f"t{i}": {"steps": [step("sleep 0.3")]} for i in range(4)}
    status = await make_runner(spec, tmp_path, parallelism=2).run()
    assert max_overlap(status) == 2


def max_overlap(status: PipelineRunStatus) -> int:
    """The most tasks that were running at one instant, from their start and finish times."""
    moments = []
    for task in status.tasks.values():
        assert task.startedAt and task.finishedAt
        moments += [(task.startedAt, 1), (task.finishedAt, -1)]
    running = peak = 0
    for _, change in sorted(moments, key=lambda item: (item[0], item[1])):
        running += change
        peak = max(peak, running)
    return peak


async def test_a_failing_task_is_retried_after_its_backoff_until_it_succeeds(
    tmp_path: Path,
) -> None:
    observer = RecordingObserver()
    # The workspace outlives attempts, so a counter in it tells the attempts apart.
    flaky = (
        'n=$(($(cat tries 2>/dev/null || echo 0) + 1)); echo $n > tries; echo "try $n"; '
        "[ $n -ge 3 ]"
    )
    spec = {"flaky": {"retries": {"limit": 3, "backoff": "100ms"}, "steps": [step(flaky)]}}
    started = time.monotonic()
    status = await make_runner(spec, tmp_path, observer).run()

    assert status.phase is RunPhase.SUCCEEDED
    assert status.tasks["flaky"].attempt == 3
    assert observer.output("flaky") == ["try 1", "try 2", "try 3"]
    assert observer.kinds("flaky").count("TaskRetrying") == 2
    assert time.monotonic() - started >= 0.2


@pytest.fixture
def small_filesystem(tmp_path: Path):
    """A 1 MiB tmpfs (needs root, as CI has); skipped where mounting is not allowed."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def test_a_full_workspace_fails_the_run_with_the_reason_and_the_next_run_works(
    small_filesystem: Path,
) -> None:
    observer = RecordingObserver()
    spec = {
        "fill": {"steps": [step("dd if=/dev/zero of=big bs=1024 count=4096")]},
        "after": {"dependencies": ["fill"], "steps": [step("echo never")]},
    }
    executor = ProcessExecutor(small_filesystem / "workspaces", kill_grace=0.5)
    status = await PipelineRunner(
        pipeline(spec), executor, run_id="full.build.1", observers=[observer]
    ).run()

    assert status.phase is RunPhase.FAILED
    fill = status.tasks["fill"]
    assert fill.phase is TaskPhase.FAILED and fill.steps[0].exitCode != 0
    assert any("No space left on device" in line for line in observer.output("fill"))
    assert status.tasks["after"].phase is TaskPhase.SKIPPED
    # The workspace was removed with the failed run, so the space is back for the next one.
    again = await PipelineRunner(
        pipeline({"t": {"steps": [step("echo ok > f && cat f")]}}), executor, run_id="full.build.2"
    ).run()
    assert again.phase is RunPhase.SUCCEEDED
