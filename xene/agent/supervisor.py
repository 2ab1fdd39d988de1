"""The pipelines this agent runs: converges to the server's desired set, one task per pipeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from xene.api.pipeline import AgentPipelinePhase, Pipeline
from xene.backoff import Backoff

log = logging.getLogger(__name__)

RESTART_INITIAL_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class AssignedPipeline:
    """One pipeline the server placed on this agent, as of one generation.

    `pipeline` is None when the agent could not read the object; `problem` then says why.
    """

    name: str
    uid: str
    generation: int
    pipeline: Pipeline | None
    problem: str | None = None

    @property
    def identity(self) -> tuple[str, str, int]:
        """What makes two assignments the same: a change restarts the pipeline."""
        return (self.name, self.uid, self.generation)


@dataclass(frozen=True)
class PipelineState:
    """The agent-side phase of one pipeline, as reported to the server."""

    name: str
    generation: int
    phase: AgentPipelinePhase
    message: str = ""


class PipelineHandler(Protocol):
    """What serving a pipeline means (its cron triggers, its runs); plugged into the supervisor."""

    async def run_pipeline(self, assigned: AssignedPipeline) -> None:
        """Serve `assigned` until cancelled; returning early means there is nothing to serve."""
        ...


class IdleHandler:
    """Serves nothing: a placeholder until trigger controllers plug in."""

    async def run_pipeline(self, assigned: AssignedPipeline) -> None:
        """Return at once; the supervisor keeps the pipeline assigned and Running."""


StateListener = Callable[[PipelineState], None]


@dataclass
class _Running:
    assigned: AssignedPipeline
    task: asyncio.Task[None]


class PipelineSupervisor:
    """Keeps exactly the assigned pipelines running; each lives in its own task.

    `converge()` is level-triggered: given the full desired set it starts what is new, restarts
    what changed (after the old generation has stopped, so two never overlap) and stops what is
    gone. `run()` owns the tasks; cancelling it stops every pipeline.
    """

    def __init__(
        self,
        handler: PipelineHandler | None = None,
        *,
        restart_initial_seconds: float = RESTART_INITIAL_SECONDS,
        restart_max_seconds: float = RESTART_MAX_SECONDS,
    ) -> None:
        self.handler: PipelineHandler = handler or IdleHandler()
        self.state_listeners: list[StateListener] = []
        self._restart_initial = restart_initial_seconds
        self._restart_max = restart_max_seconds
        self._running: dict[str, _Running] = {}
        self._states: dict[str, PipelineState] = {}
        self._group: asyncio.TaskGroup | None = None
        self.started = asyncio.Event()

    @property
    def assigned(self) -> list[AssignedPipeline]:
        """The pipelines running now, by name."""
        return [self._running[name].assigned for name in sorted(self._running)]

    def states(self) -> list[PipelineState]:
        """The last known phase of every running pipeline."""
        return [self._states[name] for name in sorted(self._states) if name in self._running]

    async def run(self) -> None:
        """Own the pipeline tasks until cancelled; they are all stopped on the way out."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                self.started.set()
                await asyncio.Future()  # until cancelled
        finally:
            self._group = None
            self._running.clear()

    def converge(self, desired: Iterable[AssignedPipeline]) -> None:
        """Run exactly `desired`: start new pipelines, restart changed ones, stop the rest."""
        wanted = {assigned.name: assigned for assigned in desired}
        for name in sorted(self._running.keys() - wanted.keys()):
            self._stop(name, "no longer assigned to this agent")
        for name in sorted(wanted):
            assigned = wanted[name]
            current = self._running.get(name)
            if current is not None and current.assigned.identity == assigned.identity:
                continue
            previous = None
            if current is not None:
                log.info(
                    "pipeline %s changed (generation %d -> %d); restarting it",
                    name,
                    current.assigned.generation,
                    assigned.generation,
                )
                previous = current.task
                previous.cancel()
            self._start(assigned, previous)

    def stop_all(self, reason: str) -> None:
        """Stop every pipeline (e.g. fenced off: the server may have moved them)."""
        names = sorted(self._running)
        if names:
            log.warning("stopping %d pipeline(s): %s", len(names), reason)
        for name in names:
            self._stop(name, reason)

    def _stop(self, name: str, reason: str) -> None:
        running = self._running.pop(name)
        self._states.pop(name, None)
        log.info("stopping pipeline %s: %s", name, reason)
        running.task.cancel()

    def _start(self, assigned: AssignedPipeline, previous: asyncio.Task[None] | None) -> None:
        if self._group is None:
            raise RuntimeError("the supervisor is not running: start run() first")
        task = self._group.create_task(
            self._serve(assigned, previous), name=f"pipeline {assigned.name}"
        )
        self._running[assigned.name] = _Running(assigned, task)

    def _set_state(
        self, assigned: AssignedPipeline, phase: AgentPipelinePhase, message: str
    ) -> None:
        current = self._running.get(assigned.name)
        if current is None or current.assigned.identity != assigned.identity:
            return  # a stale task must not overwrite its successor's state
        state = PipelineState(assigned.name, assigned.generation, phase, message)
        if self._states.get(assigned.name) == state:
            return
        self._states[assigned.name] = state
        for listener in list(self.state_listeners):
            listener(state)

    async def _serve(self, assigned: AssignedPipeline, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            # Two generations of one pipeline must never serve (fire triggers) at once.
            await asyncio.wait([previous])
        if assigned.pipeline is None:
            log.error("cannot run pipeline %s: %s", assigned.name, assigned.problem)
            self._set_state(assigned, AgentPipelinePhase.ERROR, assigned.problem or "unreadable")
            return
        log.info("now running pipeline %s (generation %d)", assigned.name, assigned.generation)
        self._set_state(assigned, AgentPipelinePhase.RUNNING, "")
        backoff = Backoff(self._restart_initial, self._restart_max)
        try:
            while True:
                try:
                    await self.handler.run_pipeline(assigned)
                except Exception as exc:
                    delay = backoff.next_delay()
                    log.exception(
                        "pipeline %s failed; restarting it in %.1fs", assigned.name, delay
                    )
                    self._set_state(assigned, AgentPipelinePhase.ERROR, str(exc) or repr(exc))
                    await asyncio.sleep(delay)
                    self._set_state(assigned, AgentPipelinePhase.RUNNING, "")
                    continue
                await asyncio.Future()  # nothing (more) to serve: stay assigned until stopped
        finally:
            log.info("stopped pipeline %s", assigned.name)
