"""Runs one pipeline's task DAG on an executor and reports every transition as it happens.

A task becomes Ready when all its dependencies Succeeded (or failed with `allowFailure`) and
Running once it holds one of the `parallelism` slots; a task that fails (after its retries)
skips everything that depends on it, while independent tasks go on, unless it has
`allowFailure`: then the run does not fail for it and its dependants still run. A task still
waiting for its dependencies after its `waitTimeout` fails. Steps of a task run in order in one
context; the first error ends the task unless the step has `allowFailure`.

With a shared container every task's context is an exec in the run's one container; it is
removed when the tasks are done, cancelled or stopped. A pipeline `timeout` stops the run
like a cancel, but the run Fails with the reason.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from xene.api.durations import format_duration
from xene.api.graph import dag_order, direct_dependants, transitive_dependants
from xene.api.plan import RunPlan, StepPlan, TaskPlan
from xene.api.run import (
    PipelineRunStatus,
    RunPhase,
    StepState,
    StepStatus,
    TaskPhase,
    TaskStatus,
)
from xene.engine.clock import SYSTEM_CLOCK, Clock
from xene.engine.environment import merge_environment
from xene.engine.events import (
    LogLine,
    ObserverFanout,
    OutputStream,
    RunCancelled,
    RunEvent,
    RunFailed,
    RunObserver,
    RunStarted,
    RunSucceeded,
    StepFailed,
    StepStarted,
    StepSucceeded,
    TaskCancelled,
    TaskFailed,
    TaskReady,
    TaskRetrying,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from xene.engine.executor import Executor, ExecutorError, SharedContext, TaskContext, Workspace
from xene.engine.output import DEFAULT_OUTPUT_LIMIT, StepOutput
from xene.engine.shielding import complete_despite_cancel

log = logging.getLogger(__name__)

PAYLOAD_FILE = ".xene/payload.json"
# The payload goes in through the environment of a fixed command: no payload text is ever part
# of a command line, and the same works in a container and on the host.
_WRITE_PAYLOAD = StepPlan(
    name="xene-payload",
    run='mkdir -p "$XENE_WORKSPACE/.xene" && printf "%s" "$XENE_PAYLOAD" > "$XENE_PAYLOAD_FILE"',
)


@dataclass(frozen=True)
class RunOptions:
    """Knobs of one run: how many tasks at once, and how much output one step may write."""

    parallelism: int = 4
    output_limit: int = DEFAULT_OUTPUT_LIMIT

    def __post_init__(self) -> None:
        if self.parallelism < 1:
            raise ValueError(f"parallelism must be at least 1 (got {self.parallelism})")
        if self.output_limit < 1:
            raise ValueError(f"output_limit must be at least 1 byte (got {self.output_limit})")


def _fresh_steps(task: TaskPlan) -> list[StepStatus]:
    return [StepStatus(name=step.name, allowFailure=step.allowFailure) for step in task.steps]


def _tasks(names: list[str]) -> str:
    """`task 'a'` or `tasks 'a', 'b'`."""
    listed = ", ".join(f"'{name}'" for name in names)
    return f"task {listed}" if len(names) == 1 else f"tasks {listed}"


@dataclass(frozen=True)
class _Stop:
    """Why a run stops before its end: the reason (the run's and its tasks' message), the
    run's final phase, and what its interrupted steps say."""

    reason: str
    phase: RunPhase
    step_message: str


class PipelineRunner:
    """Executes one run of a pipeline; `run()` once, `cancel()` from anywhere, `status()` anytime.

    `plan` is the compiled pipeline (`xene.api.plan.compile_plan`). `variables` are the run's
    `XENE_*` facts (see `run_variables`); they win over the pipeline's, task's and step's own
    `env`. Pass `slots` to share one capacity limit among several runs
    (an agent's capacity); otherwise the run gets `options.parallelism` slots of its own.
    """

    def __init__(
        self,
        plan: RunPlan,
        executor: Executor,
        *,
        run_id: str,
        variables: Mapping[str, str] | None = None,
        observers: Iterable[RunObserver] = (),
        options: RunOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
        slots: asyncio.Semaphore | None = None,
        payload: str | None = None,
    ) -> None:
        dag_order(plan.tasks)  # raises Invalid on unknown dependencies and cycles
        self._plan = plan
        self._executor = executor
        self._run_id = run_id
        self._variables = merge_environment(variables or {})
        self._observers = ObserverFanout(observers)
        self._options = options or RunOptions()
        self._clock = clock
        self._slots = slots or asyncio.Semaphore(self._options.parallelism)
        self._dependants = direct_dependants(plan.tasks)
        self._status = PipelineRunStatus(
            tasks={
                name: TaskStatus(
                    name=name, allowFailure=task.allowFailure, steps=_fresh_steps(task)
                )
                for name, task in plan.tasks.items()
            }
        )
        self._running: dict[asyncio.Task[TaskPhase], str] = {}
        self._stop: _Stop | None = None
        # Starting the shared container: a stop cancels it.
        self._opening: asyncio.Future[SharedContext | None] | None = None
        # Loop time by which each waiting task with a waitTimeout must have become Ready.
        self._wait_deadlines: dict[str, float] = {}
        self._started = False
        self._finished = asyncio.Event()
        # A webhook's body, written to PAYLOAD_FILE in the workspace before the first step.
        self._payload = payload
        self._payload_lock = asyncio.Lock()
        self._payload_written = payload is None

    @property
    def run_id(self) -> str:
        """The id this run was started with."""
        return self._run_id

    def add_observer(self, observer: RunObserver) -> None:
        """Also report to `observer` (one that needs the runner itself, e.g. its status)."""
        if self._started:
            raise RuntimeError(f"run '{self._run_id}' already started: add observers before")
        self._observers.add(observer)

    def status(self) -> PipelineRunStatus:
        """A copy of the run's current state, safe to store or send."""
        return self._status.model_copy(deep=True)

    async def run(self) -> PipelineRunStatus:
        """Execute the DAG to its end and return the final status (call once).

        Cancelling the asyncio task that awaits this (agent shutdown) stops the steps and cleans
        up like cancel() but reports no final events: the run is left Running, to be retried.
        """
        if self._started:
            raise RuntimeError(f"run '{self._run_id}' was already started")
        self._started = True
        try:
            await self._run()
        finally:
            self._finished.set()
        return self.status()

    def request_cancel(self, reason: str = "cancelled") -> None:
        """Start cancelling without waiting (safe to call from an observer of this run)."""
        if self._status.phase.finished or self._stop is not None:
            return
        self._status.cancelRequested = True
        self._stop_run(_Stop(reason, RunPhase.CANCELLED, "cancelled"))

    async def cancel(self, reason: str = "cancelled") -> None:
        """Stop running steps (SIGTERM, then SIGKILL after the executor's grace period), mark
        unfinished tasks Cancelled, and wait until the run has wound down.

        Not from an observer of this run: the run waits for its observers (use request_cancel).
        """
        self.request_cancel(reason)
        if self._started:
            await self._finished.wait()

    def _stop_run(self, stop: _Stop) -> None:
        """Stop the run for `stop`'s reason: running tasks are cancelled, no new one starts."""
        if self._status.phase.finished or self._stop is not None:
            return
        self._stop = stop
        # Waiting tasks end Cancelled now, and no wait deadline may wake the scheduler again.
        self._wait_deadlines.clear()
        # Once only: _run_task absorbs exactly one cancellation (see uncancel there).
        for task in list(self._running):
            task.cancel()
        if self._opening is not None:
            self._opening.cancel()

    def _time_out(self) -> None:
        seconds = self._plan.timeoutSeconds or 0
        reason = f"pipeline timeout {format_duration(seconds)} exceeded"
        log.info("run %s: %s", self._run_id, reason)
        self._stop_run(_Stop(reason, RunPhase.FAILED, f"stopped: {reason}"))

    # The run

    async def _run(self) -> None:
        self._status.phase = RunPhase.RUNNING
        self._status.startedAt = self._clock.now()
        loop = asyncio.get_running_loop()
        timer = None
        if self._plan.timeoutSeconds is not None:
            timer = loop.call_later(self._plan.timeoutSeconds, self._time_out)
        try:
            await self._emit(RunStarted, tasks=tuple(self._plan.tasks))
            await self._execute()
        finally:
            if timer is not None:
                timer.cancel()

    async def _execute(self) -> None:
        if self._stop is not None:
            await self._cancel_unfinished()
            await self._finish_run()
            return
        unavailable = self._executor.unavailable()
        if unavailable is not None:
            await self._abandon(unavailable, f"not started: {unavailable}")
            return
        try:
            workspace = await self._executor.prepare_run(self._run_id)
        except Exception as exc:
            if not isinstance(exc, ExecutorError):
                log.exception("run %s: preparing the workspace failed", self._run_id)
            await self._abandon(
                f"could not prepare the run's workspace: {exc}",
                "not started: the run's workspace could not be prepared",
            )
            return
        shared: SharedContext | None = None
        failure: str | None = None
        try:
            if self._plan.sharedContainer is not None:
                shared, failure = await self._open_shared(workspace)
            if failure is None:
                await self._schedule(workspace, shared)
        finally:
            if shared is not None:
                await complete_despite_cancel(self._close_shared(shared))
            await complete_despite_cancel(self._cleanup(workspace))
        if failure is not None:
            await self._abandon(failure, "not started: the shared container could not be started")
        else:
            await self._finish_run()

    async def _open_shared(self, workspace: Workspace) -> tuple[SharedContext | None, str | None]:
        """The run's shared container, or why it could not be started; (None, None) when the
        run was stopped meanwhile."""
        plan = self._plan.sharedContainer
        assert plan is not None
        env = {**plan.env, **self._variables, "XENE_WORKSPACE": workspace.path}
        opening = asyncio.ensure_future(self._executor.open_shared(plan, workspace, env))
        self._opening = opening
        try:
            return await opening, None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            # Cancelled by a stop of this run (cancel, timeout), not by a cancel of run() itself.
            if self._stop is None or current is None or current.cancelling():
                raise
            return None, None
        except Exception as exc:
            if not isinstance(exc, ExecutorError):
                log.exception("run %s: starting the shared container failed", self._run_id)
            return None, f"could not start the shared container: {exc}"
        finally:
            self._opening = None

    async def _schedule(self, workspace: Workspace, shared: SharedContext | None) -> None:
        # Tasks start waiting for their dependencies now, once the run's context is ready.
        started = asyncio.get_running_loop().time()
        self._wait_deadlines = {
            name: started + task.waitTimeoutSeconds
            for name, task in self._plan.tasks.items()
            if task.waitTimeoutSeconds is not None and task.dependencies and self._stop is None
        }
        async with asyncio.TaskGroup() as group:
            while True:
                for name in await self._promote_ready():
                    # Checked per task: a stop may arrive while TaskReady events go out.
                    if self._stop is None:
                        task = group.create_task(
                            self._run_task(name, workspace, shared),
                            name=f"xene:{self._run_id}:{name}",
                        )
                        self._running[task] = name
                if not self._running:
                    break
                done, _ = await asyncio.wait(
                    self._running,
                    timeout=self._until_next_wait_deadline(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    name = self._running.pop(task)
                    phase = TaskPhase.CANCELLED if task.cancelled() else task.result()
                    if phase is TaskPhase.FAILED:
                        await self._after_failure(name)
                await self._expire_waits()
        if self._stop is not None:
            await self._cancel_unfinished()

    async def _promote_ready(self) -> list[str]:
        ready: list[str] = []
        if self._stop is not None:
            return ready
        for name, task in self._plan.tasks.items():
            status = self._status.tasks[name]
            if status.phase is not TaskPhase.WAITING:
                continue
            if all(self._satisfied(dependency) for dependency in task.dependencies):
                status.phase = TaskPhase.READY
                ready.append(name)
                await self._emit(TaskReady, task=name)
        return ready

    def _satisfied(self, dependency: str) -> bool:
        """Whether a dependant may start as far as `dependency` goes: it succeeded, or it failed
        with allowFailure."""
        status = self._status.tasks[dependency]
        return status.phase is TaskPhase.SUCCEEDED or (
            status.phase is TaskPhase.FAILED and status.allowFailure
        )

    def _until_next_wait_deadline(self) -> float | None:
        """Seconds until the earliest waitTimeout of a task still waiting, if any has one."""
        if not self._wait_deadlines:
            return None
        now = asyncio.get_running_loop().time()
        return max(0.0, min(self._wait_deadlines.values()) - now)

    async def _expire_waits(self) -> None:
        """Fail the tasks that waited longer than their waitTimeout for their dependencies."""
        if not self._wait_deadlines:
            return
        now = asyncio.get_running_loop().time()
        for name, deadline in list(self._wait_deadlines.items()):
            status = self._status.tasks[name]
            if status.phase is not TaskPhase.WAITING:
                del self._wait_deadlines[name]
            elif deadline <= now and self._stop is None:
                del self._wait_deadlines[name]
                seconds = self._plan.tasks[name].waitTimeoutSeconds or 0
                message = f"dependencies not finished within {format_duration(seconds)}"
                await self._finish_task(name, TaskPhase.FAILED, message)
                await self._after_failure(name)

    async def _after_failure(self, failed: str) -> None:
        """A failed task skips its dependants, unless it was allowed to fail."""
        if self._status.tasks[failed].allowFailure:
            return
        for name in transitive_dependants(self._dependants, failed):
            status = self._status.tasks[name]
            if status.phase is TaskPhase.WAITING:
                status.phase = TaskPhase.SKIPPED
                status.message = f"task '{failed}' failed"
                status.finishedAt = self._clock.now()
                await self._emit(TaskSkipped, task=name, message=status.message)

    async def _cancel_unfinished(self) -> None:
        reason = self._stop.reason if self._stop is not None else "cancelled"
        for name, status in self._status.tasks.items():
            if not status.phase.finished:
                await self._finish_task(name, TaskPhase.CANCELLED, reason)

    async def _abandon(self, message: str, task_message: str) -> None:
        """End a run whose tasks could not start at all."""
        for name in self._status.tasks:
            status = self._status.tasks[name]
            status.phase = TaskPhase.SKIPPED
            status.message = task_message
            status.finishedAt = self._clock.now()
            await self._emit(TaskSkipped, task=name, message=status.message)
        await self._finish_run(message)

    async def _finish_run(self, failure: str | None = None) -> None:
        tasks = self._status.tasks.values()
        cancelled = [t.name for t in tasks if t.phase is TaskPhase.CANCELLED]
        blocking = [t.name for t in tasks if t.phase is TaskPhase.FAILED and not t.allowFailure]
        allowed = [t.name for t in tasks if t.phase is TaskPhase.FAILED and t.allowFailure]
        self._status.finishedAt = self._clock.now()
        stop = self._stop
        if stop is not None and cancelled:
            self._status.phase = stop.phase
            self._status.message = stop.reason
            event = RunCancelled if stop.phase is RunPhase.CANCELLED else RunFailed
            await self._emit(event, message=stop.reason)
        elif (
            failure is None
            and not blocking
            and all(t.phase is TaskPhase.SUCCEEDED or t.name in allowed for t in tasks)
        ):
            self._status.phase = RunPhase.SUCCEEDED
            message = f"{_tasks(allowed)} failed (allowed to fail)" if allowed else ""
            self._status.message = message or None
            await self._emit(RunSucceeded, message=message)
        else:
            message = failure or (
                f"{_tasks(blocking)} failed" if blocking else "not every task succeeded"
            )
            self._status.phase = RunPhase.FAILED
            self._status.message = message
            await self._emit(RunFailed, message=message)

    async def _close_shared(self, shared: SharedContext) -> None:
        try:
            await shared.close()
        except Exception:
            log.exception("run %s: removing the shared container failed", self._run_id)

    async def _cleanup(self, workspace: Workspace) -> None:
        try:
            await self._executor.cleanup_run(workspace)
        except Exception:
            log.exception("run %s: cleaning up workspace %s failed", self._run_id, workspace)

    # One task

    async def _run_task(
        self, name: str, workspace: Workspace, shared: SharedContext | None
    ) -> TaskPhase:
        try:
            async with self._slots:
                return await self._attempts(name, workspace, shared)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            # Only a stop of this run is absorbed here; a cancel of run() itself propagates.
            if self._stop is None or current is None or current.uncancel() > 0:
                raise
            status = self._status.tasks[name]
            if not status.phase.finished:
                await self._finish_task(name, TaskPhase.CANCELLED, self._stop.reason)
            return status.phase
        except Exception as exc:
            log.exception("run %s: task %s failed unexpectedly", self._run_id, name)
            await self._finish_task(name, TaskPhase.FAILED, f"internal error: {exc}")
            return TaskPhase.FAILED

    async def _attempts(
        self, name: str, workspace: Workspace, shared: SharedContext | None
    ) -> TaskPhase:
        task = self._plan.tasks[name]
        limit = task.retryLimit
        backoff = task.retryBackoffSeconds
        status = self._status.tasks[name]
        for attempt in itertools.count(1):
            status.phase = TaskPhase.RUNNING
            status.attempt = attempt
            status.startedAt = status.startedAt or self._clock.now()
            status.message = None
            status.steps = _fresh_steps(task)
            await self._emit(TaskStarted, task=name, attempt=attempt)
            failure = await self._attempt(name, task, attempt, workspace, shared)
            if failure is None:
                await self._finish_task(name, TaskPhase.SUCCEEDED)
                return TaskPhase.SUCCEEDED
            if attempt > limit:
                await self._finish_task(name, TaskPhase.FAILED, failure)
                return TaskPhase.FAILED
            status.message = (
                f"attempt {attempt} failed: {failure}; retrying in {format_duration(backoff)}"
            )
            await self._emit(
                TaskRetrying, task=name, attempt=attempt, message=failure, delay_seconds=backoff
            )
            await self._clock.sleep(backoff)
        raise AssertionError("unreachable")

    async def _attempt(
        self,
        name: str,
        task: TaskPlan,
        attempt: int,
        workspace: Workspace,
        shared: SharedContext | None,
    ) -> str | None:
        """One try of a task in a fresh context: None on success, else why it failed."""
        context: TaskContext | None = None
        try:
            async with asyncio.timeout(task.timeoutSeconds) as deadline:
                system = {
                    "XENE_TASK": name,
                    "XENE_TASK_ATTEMPT": str(attempt),
                    "XENE_WORKSPACE": workspace.path,
                }
                if self._payload is not None:
                    system["XENE_PAYLOAD_FILE"] = f"{workspace.path}/{PAYLOAD_FILE}"
                task_env = {**task.env, **self._variables, **system}
                if shared is not None:
                    context = await shared.open_task(name, task, task_env)
                else:
                    context = await self._executor.open_task(name, task, workspace, task_env)
                await self._write_payload(context, task_env)
                for index, step in enumerate(task.steps):
                    step_env = {**step.env, **self._variables, **system, "XENE_STEP": step.name}
                    failure = await self._run_step(
                        name, attempt, index, step, context, step_env, deadline
                    )
                    if failure is not None and not step.allowFailure:
                        return failure
            return None
        except TimeoutError as exc:
            if deadline.expired():
                return f"timed out after {format_duration(task.timeoutSeconds or 0)}"
            return f"executor timed out: {exc}"
        except (ExecutorError, ValueError) as exc:
            return str(exc)
        except Exception as exc:
            log.exception("run %s: task %s attempt %d failed", self._run_id, name, attempt)
            return f"internal error: {exc}"
        finally:
            if context is not None:
                await complete_despite_cancel(self._close_context(name, context))

    async def _write_payload(self, context: TaskContext, env: Mapping[str, str]) -> None:
        """Put the payload into the workspace once, before any step of any task runs."""
        if self._payload_written:
            return
        async with self._payload_lock:
            if self._payload_written or self._payload is None:
                return
            # Directly when the context can (no shell started before the first step); else
            # through a fixed command.
            if await context.write_file(env["XENE_PAYLOAD_FILE"], self._payload.encode()):
                self._payload_written = True
                return
            output = bytearray()

            async def collect(stream: OutputStream, data: bytes) -> None:
                output.extend(data[: max(0, 2048 - len(output))])

            code = await context.exec_step(
                _WRITE_PAYLOAD, {**env, "XENE_PAYLOAD": self._payload}, collect
            )
            if code != 0:
                detail = output.decode(errors="replace").strip()
                raise ExecutorError(
                    f"could not write the webhook payload to {PAYLOAD_FILE} in the workspace "
                    f"(exit code {code}){': ' + detail if detail else ''}"
                )
            self._payload_written = True

    async def _close_context(self, name: str, context: TaskContext) -> None:
        try:
            await context.close()
        except Exception:
            log.exception("run %s: closing the context of task %s failed", self._run_id, name)

    async def _finish_task(self, name: str, phase: TaskPhase, message: str | None = None) -> None:
        status = self._status.tasks[name]
        status.phase = phase
        status.message = message
        status.finishedAt = self._clock.now()
        if phase is TaskPhase.SUCCEEDED:
            await self._emit(TaskSucceeded, task=name, attempt=status.attempt)
        elif phase is TaskPhase.FAILED:
            await self._emit(
                TaskFailed,
                task=name,
                attempt=status.attempt,
                message=message or "",
                allow_failure=status.allowFailure,
            )
        elif phase is TaskPhase.CANCELLED:
            await self._emit(
                TaskCancelled, task=name, attempt=status.attempt, message=message or ""
            )

    # One step

    async def _run_step(
        self,
        task_name: str,
        attempt: int,
        index: int,
        step: StepPlan,
        context: TaskContext,
        env: Mapping[str, str],
        task_deadline: asyncio.Timeout,
    ) -> str | None:
        """Run one step: None when it succeeded, else the task-level reason it failed."""
        status = self._status.tasks[task_name].steps[index]
        status.state = StepState.RUNNING
        status.startedAt = self._clock.now()
        await self._emit(
            StepStarted,
            task=task_name,
            step=step.name,
            attempt=attempt,
            started_at=status.startedAt,
        )
        numbers = itertools.count(1)

        async def deliver(stream: OutputStream, text: str) -> None:
            line = LogLine(
                run_id=self._run_id,
                task=task_name,
                step=step.name,
                attempt=attempt,
                stream=stream,
                number=next(numbers),
                line=text,
                time=self._clock.now(),
                # The output object flags the cap before it hands over the marker line.
                truncated=output.truncated,
            )
            await self._observers.log_line(line)

        output = StepOutput(deliver, self._options.output_limit)
        exit_code: int | None = None
        try:
            async with asyncio.timeout(step.timeoutSeconds) as deadline:
                exit_code = await context.exec_step(step, env, output.feed)
        except TimeoutError as exc:
            if not deadline.expired():
                return await self._end_step(
                    task_name, attempt, step, status, output, None, f"executor timed out: {exc}"
                )
            message = f"timed out after {format_duration(step.timeoutSeconds or 0)}"
            await self._end_step(task_name, attempt, step, status, output, None, message)
            return f"step '{step.name}' {message}"
        except ExecutorError as exc:
            return await self._end_step(task_name, attempt, step, status, output, None, str(exc))
        except asyncio.CancelledError:
            if self._stop is not None:
                why = self._stop.step_message
            elif task_deadline.expired():
                seconds = self._plan.tasks[task_name].timeoutSeconds or 0
                why = f"stopped: the task timed out after {format_duration(seconds)}"
            else:
                why = "interrupted"
            await complete_despite_cancel(
                self._end_step(task_name, attempt, step, status, output, None, why)
            )
            raise
        except Exception as exc:
            log.exception("run %s: step %s/%s failed", self._run_id, task_name, step.name)
            return await self._end_step(
                task_name, attempt, step, status, output, None, f"internal error: {exc}"
            )
        if exit_code == 0:
            return await self._end_step(task_name, attempt, step, status, output, 0, None)
        await self._end_step(
            task_name, attempt, step, status, output, exit_code, f"exit code {exit_code}"
        )
        return f"step '{step.name}' failed with exit code {exit_code}"

    async def _end_step(
        self,
        task_name: str,
        attempt: int,
        step: StepPlan,
        status: StepStatus,
        output: StepOutput,
        exit_code: int | None,
        error: str | None,
    ) -> str | None:
        """Record the step's end after its last log line; returns the task-level failure."""
        await output.flush()
        status.exitCode = exit_code
        status.finishedAt = self._clock.now()
        started = status.startedAt or status.finishedAt
        if error is None:
            status.state = StepState.SUCCESS
            await self._emit(
                StepSucceeded,
                task=task_name,
                step=step.name,
                attempt=attempt,
                exit_code=exit_code or 0,
                started_at=started,
                finished_at=status.finishedAt,
            )
            return None
        status.state = StepState.ERROR
        status.message = error
        await self._emit(
            StepFailed,
            task=task_name,
            step=step.name,
            attempt=attempt,
            exit_code=exit_code,
            message=error,
            allow_failure=step.allowFailure,
            started_at=started,
            finished_at=status.finishedAt,
        )
        return f"step '{step.name}': {error}"

    async def _emit(self, kind: type[RunEvent], **fields: Any) -> None:
        await self._observers.event(kind(run_id=self._run_id, time=self._clock.now(), **fields))
