"""The runs this agent executes: StartRun and CancelRun commands in, engine runs out.

Commands arrive at least once (a reconnect can repeat one), so a run attempt is identified by
(run, attempt) and started once: a StartRun for an attempt running here, finished here, or older
than one seen here is acknowledged and ignored. A newer attempt of a run that still runs here
(the server gave up on the old one) stops the old attempt first, so two attempts of one run
never share its workspace. Runs share the agent's `parallelism` task slots.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from pydantic import ValidationError

from xene.agent.contract import Command, StartRun
from xene.agent.runs.outbox import Outbox
from xene.agent.runs.reporter import ReportPacing, RunReporter
from xene.api.errors import XeneError
from xene.api.pipeline import Pipeline
from xene.api.plan import RunPlan, compile_plan
from xene.api.run import PipelineRun, RunPhase
from xene.engine.environment import run_variables
from xene.engine.executors.registry import RunExecutors
from xene.engine.runner import PipelineRunner, RunOptions

log = logging.getLogger(__name__)

REMEMBERED_ATTEMPTS = 4096


@dataclass(eq=False)
class ActiveRun:
    """One run attempt on this agent, from its StartRun until its reports are queued."""

    run: str
    attempt: int
    runner: PipelineRunner
    executor: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    phase: RunPhase | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.run, self.attempt)


class RunManager:
    """Starts, cancels and tracks run attempts; `run()` owns their tasks."""

    def __init__(
        self,
        outbox: Outbox,
        executors: RunExecutors,
        *,
        parallelism: int = 4,
        options: RunOptions | None = None,
        pacing: ReportPacing | None = None,
    ) -> None:
        self.outbox = outbox
        self.executors = executors
        self.options = options or RunOptions(parallelism=parallelism)
        self._pacing = pacing
        self._slots = asyncio.Semaphore(parallelism)
        self._active: dict[tuple[str, int], ActiveRun] = {}
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._seen: OrderedDict[str, int] = OrderedDict()  # run → highest attempt seen
        self._finished: OrderedDict[tuple[str, int], RunPhase | None] = OrderedDict()
        self._group: asyncio.TaskGroup | None = None
        self._accepting = False
        self.started = asyncio.Event()
        self.changed = asyncio.Event()

    # -- life cycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Own the run tasks until cancelled; running runs are stopped on the way out."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                self._accepting = True
                self.started.set()
                await asyncio.Future()  # until cancelled
        finally:
            self._accepting = False
            self._group = None
            await self.executors.close()

    async def shutdown(self) -> None:
        """Take no more runs, stop the running ones (their containers are removed) and wait.

        The stopped attempts report no end: after the agent's goodbye the server hands them
        to another agent as new attempts.
        """
        self._accepting = False
        tasks = list(self._tasks.values())
        if tasks:
            log.info("stopping %d run(s): the agent is shutting down", len(tasks))
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- commands -------------------------------------------------------------------------

    def handle_command(self, command: Command) -> str | None:
        """The connection's command handler: None when taken over, else why it was refused."""
        if isinstance(command, StartRun):
            return self.start(command.run, command.pipeline, command.attempt, command.plan)
        self.cancel(command.run, command.attempt, command.reason)
        return None

    def start(
        self, run: PipelineRun, pipeline: Pipeline, attempt: int, plan: RunPlan | None = None
    ) -> str | None:
        """Start `attempt` of `run` unless it is known here; returns why it can't run, if so.

        `plan` is what the server compiled from `pipeline`; without one it is compiled here.
        """
        name = run.metadata.name
        key = (name, attempt)
        if key in self._active or key in self._finished:
            log.info("run %s attempt %d is already known here: not started again", name, attempt)
            return None
        if key in self.outbox.attempts_awaiting_result():
            log.info("run %s attempt %d finished here before a restart: not started", name, attempt)
            return None
        seen = self._seen.get(name, 0)
        if attempt < seen:
            log.info("run %s attempt %d is older than attempt %d: ignored", name, attempt, seen)
            return None
        if not self._accepting or self._group is None:
            # Acknowledged but not started: after the goodbye the server hands it on.
            log.warning("not starting run %s attempt %d: the agent is shutting down", name, attempt)
            return None
        spec = run.spec
        try:
            plan = plan or compile_plan(pipeline.spec)
            kind = self.executors.kind_for(plan.executor)
            if kind is None:
                return f"executor '{plan.executor}' is not available on this agent"
            variables = run_variables(
                run_id=name,
                workflow=spec.workflow,
                pipeline=spec.pipeline,
                run_number=spec.number,
                commit=spec.commit,
                trigger_type=spec.trigger.type,
                trigger_name=spec.trigger.name,
                extra={**spec.env, **spec.parameters, "XENE_RUN_ATTEMPT": str(attempt)},
            )
            runner = PipelineRunner(
                plan,
                self.executors.get(kind),
                run_id=name,
                variables=variables,
                options=self.options,
                slots=self._slots,
                payload=spec.trigger.payload,
            )
        except (XeneError, ValueError, ValidationError) as exc:
            return f"run '{name}' cannot start: {exc}"
        active = ActiveRun(name, attempt, runner, kind)
        previous = [other for other in self._active.values() if other.run == name]
        self._remember_seen(name, attempt)
        self._active[key] = active
        self._tasks[key] = self._group.create_task(
            self._execute(active, previous), name=f"run {name}#{attempt}"
        )
        log.info("run %s attempt %d accepted (%s executor)", name, attempt, kind)
        self.changed.set()
        return None

    def cancel(self, run: str, attempt: int = 0, reason: str = "cancelled") -> bool:
        """Cancel the attempt of `run` running here (any attempt when `attempt` is 0)."""
        found = False
        for active in list(self._active.values()):
            if active.run == run and attempt in (0, active.attempt):
                log.info("cancelling run %s attempt %d: %s", run, active.attempt, reason)
                active.runner.request_cancel(reason)
                found = True
        if not found:
            log.info("cancel of run %s attempt %d: not running here", run, attempt)
        return found

    # -- queries --------------------------------------------------------------------------

    def active_attempts(self) -> list[tuple[str, int]]:
        """What Hello.runs lists: attempts running here, and finished attempts whose result
        the server has not acknowledged yet."""
        return sorted(set(self._active) | set(self.outbox.attempts_awaiting_result()))

    def running(self) -> list[ActiveRun]:
        """The attempts running now."""
        return list(self._active.values())

    def phase_of(self, run: str, attempt: int) -> RunPhase | None:
        """The final phase of an attempt that ended here (None if unknown or still running)."""
        return self._finished.get((run, attempt))

    async def wait_finished(self, run: str, attempt: int = 1) -> RunPhase | None:
        """Wait until the attempt has ended here; its final phase."""
        while (run, attempt) not in self._finished:
            self.changed.clear()
            await self.changed.wait()
        return self._finished[(run, attempt)]

    # -- one attempt ----------------------------------------------------------------------

    async def _execute(self, active: ActiveRun, previous: list[ActiveRun]) -> None:
        try:
            for other in previous:
                other.runner.request_cancel(f"superseded by attempt {active.attempt}")
                await other.done.wait()
            # Not before the start-up sweep has taken what an earlier process left behind.
            await self.executors.wait_swept()
            reporter = RunReporter(
                self.outbox,
                active.run,
                active.attempt,
                active.runner.status,
                pacing=self._pacing,
            )
            active.runner.add_observer(reporter)
            async with reporter:
                status = await active.runner.run()
            active.phase = status.phase
            log.info(
                "run %s attempt %d ended: %s%s",
                active.run,
                active.attempt,
                status.phase,
                f" ({status.message})" if status.message else "",
            )
        except asyncio.CancelledError:
            log.info("run %s attempt %d stopped", active.run, active.attempt)
            raise
        except Exception:
            # The engine reports its own failures; this is a bug, and other runs must go on.
            log.exception("run %s attempt %d failed unexpectedly", active.run, active.attempt)
        finally:
            self._active.pop(active.key, None)
            self._tasks.pop(active.key, None)
            self._finished[active.key] = active.phase
            while len(self._finished) > REMEMBERED_ATTEMPTS:
                self._finished.popitem(last=False)
            active.done.set()
            self.changed.set()

    def _remember_seen(self, run: str, attempt: int) -> None:
        self._seen[run] = max(attempt, self._seen.get(run, 0))
        self._seen.move_to_end(run)
        while len(self._seen) > REMEMBERED_ATTEMPTS:
            self._seen.popitem(last=False)
