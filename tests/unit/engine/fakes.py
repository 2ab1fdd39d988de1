"""In-memory stand-ins for the engine's collaborators: an executor, a clock and an observer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from xene.api.plan import RunPlan, SharedContainerPlan, StepPlan, TaskPlan, compile_plan
from xene.api.workflow import PipelineSpec
from xene.engine import (
    Executor,
    ExecutorError,
    LogLine,
    OutputCallback,
    RunEvent,
    RunObserver,
    SharedContext,
    TaskContext,
    Workspace,
)


def pipeline(tasks: Mapping[str, Any], **fields: Any) -> RunPlan:
    """The compiled plan of a pipeline written as plain dicts, as a workflow file gives it."""
    return compile_plan(PipelineSpec.model_validate({"tasks": tasks, **fields}))


class FakeClock:
    """Time that only moves when asked; sleeps are recorded and return at once."""

    def __init__(self) -> None:
        self.current = datetime(2030, 1, 1, tzinfo=UTC)
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


class RecordingObserver(RunObserver):
    """Keeps every event and log line, and lets a test wait for a given line."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.lines: list[LogLine] = []
        self._waiters: list[tuple[str, asyncio.Event]] = []

    async def on_event(self, event: RunEvent) -> None:
        self.events.append(event)

    async def on_log(self, line: LogLine) -> None:
        self.lines.append(line)
        for text, seen in self._waiters:
            if text in line.line:
                seen.set()

    async def wait_for_line(self, text: str, within: float = 10.0) -> None:
        """Return once a line containing `text` arrived (fail after `within` seconds)."""
        seen = asyncio.Event()
        if any(text in line.line for line in self.lines):
            return
        self._waiters.append((text, seen))
        async with asyncio.timeout(within):
            await seen.wait()

    def kinds(self, task: str | None = None) -> list[str]:
        """Event names in order, optionally only those about one task."""
        return [
            event.kind
            for event in self.events
            if task is None or getattr(event, "task", None) == task
        ]

    def output(self, task: str, step: str | None = None) -> list[str]:
        """The text of the lines one task (and step) wrote."""
        return [
            line.line
            for line in self.lines
            if line.task == task and (step is None or line.step == step)
        ]


@dataclass
class StepCall:
    """What the fake executor saw for one step."""

    task: str
    step: str
    env: dict[str, str]


@dataclass
class FakeExecutor(Executor):
    """Interprets each step's `run` as `;`-separated fake commands:

    `echo TEXT`, `err TEXT` (stderr), `raw HEX` (bytes to stdout), `sleep SECONDS`, `exit CODE`,
    `hang` (until cancelled), `slow-stop SECONDS` (hang, then take that long to stop once
    cancelled), `fail-before-attempt N` (exit 1 while XENE_TASK_ATTEMPT < N),
    `broken MESSAGE` (raise ExecutorError).
    """

    fail_open: dict[str, str] = field(default_factory=dict)
    fail_prepare: str | None = None
    # The shared container: why starting it fails, or hang until cancelled while starting it.
    fail_shared: str | None = None
    hang_shared: bool = False
    shared: list[FakeShared] = field(default_factory=list)
    calls: list[StepCall] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    name: str = "fake"

    async def prepare_run(self, run_id: str) -> Workspace:
        if self.fail_prepare:
            raise ExecutorError(self.fail_prepare)
        return Workspace(run_id=run_id, path="/fake/workspace", location=f"fake-{run_id}")

    async def open_task(
        self, name: str, task: TaskPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> TaskContext:
        if name in self.fail_open:
            raise ExecutorError(self.fail_open[name])
        self.opened.append(name)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        return FakeContext(self, name)

    async def open_shared(
        self, shared: SharedContainerPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> SharedContext | None:
        if self.hang_shared:
            await asyncio.Event().wait()
        if self.fail_shared:
            raise ExecutorError(self.fail_shared)
        container = FakeShared(self, shared.image, dict(env))
        self.shared.append(container)
        return container

    async def cleanup_run(self, workspace: Workspace) -> None:
        self.cleaned.append(workspace.location)


@dataclass
class FakeShared(SharedContext):
    """A fake shared container: records which task attempts were opened in it."""

    executor: FakeExecutor
    image: str
    env: dict[str, str]
    tasks: list[tuple[str, str | None]] = field(default_factory=list)
    closed: bool = False

    async def open_task(self, name: str, task: TaskPlan, env: Mapping[str, str]) -> TaskContext:
        assert not self.closed, "a task opened in a removed shared container"
        self.tasks.append((name, task.workingDir))
        return await self.executor.open_task(name, task, Workspace("", "", ""), env)

    async def close(self) -> None:
        self.closed = True


class FakeContext(TaskContext):
    def __init__(self, executor: FakeExecutor, task: str) -> None:
        self._executor = executor
        self._task = task
        self._closed = False

    async def exec_step(
        self, step: StepPlan, env: Mapping[str, str], on_output: OutputCallback
    ) -> int:
        self._executor.calls.append(StepCall(self._task, step.name, dict(env)))
        for command in step.run.split(";"):
            verb, _, argument = command.strip().partition(" ")
            if verb == "echo":
                await on_output("stdout", argument.encode() + b"\n")
            elif verb == "err":
                await on_output("stderr", argument.encode() + b"\n")
            elif verb == "raw":
                await on_output("stdout", bytes.fromhex(argument))
            elif verb == "sleep":
                await asyncio.sleep(float(argument))
            elif verb == "exit":
                return int(argument)
            elif verb == "hang":
                await asyncio.Event().wait()
            elif verb == "slow-stop":  # hang; once cancelled, take SECONDS to stop
                try:
                    await asyncio.Event().wait()
                finally:
                    await asyncio.shield(asyncio.sleep(float(argument)))
            elif verb == "fail-before-attempt":
                if int(env["XENE_TASK_ATTEMPT"]) < int(argument):
                    return 1
            elif verb == "broken":
                raise ExecutorError(argument)
            else:
                raise AssertionError(f"unknown fake command {command!r}")
        return 0

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._executor.active -= 1
            self._executor.closed.append(self._task)
