"""What agents report about runs over their streams: progress, output, run requests, triggers.

Reports (RunUpdate, LogChunk) carry a seq that grows per agent process; the agent replays the
unacknowledged ones after a reconnect, so the same report can arrive twice. Each is applied at
most once per (run, attempt) — the log store keeps the last applied seq — and acknowledged only
after it is stored. A report of an attempt that is no longer current (the run was interrupted
and handed to another agent) is acknowledged and dropped.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from xene.api.errors import FieldError, Invalid, NotFound, XeneError
from xene.api.meta import utc_now
from xene.api.pipeline import Pipeline, SchedulePhase
from xene.api.run import PipelineRun, PipelineRunStatus, RunTrigger
from xene.api.trigger import Trigger, TriggerStatus
from xene.apiserver.services.logstore import LogRecord, LogStore
from xene.apiserver.services.runs import CreatedRun, RunService, current_attempt
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)

# The PipelineRun.status fields an agent owns; the rest (agent, attempts, cancelRequested) are
# the server's.
AGENT_STATUS_FIELDS = ("phase", "startedAt", "finishedAt", "message", "tasks")
ATTEMPT_OWNERS_KEPT = 4096


class RunEventPublisher(Protocol):
    """Fans a run's events out to notifiers; never blocks or raises."""

    def publish(self, run: PipelineRun, events: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class RunUpdateReport:
    """One RunUpdate as received."""

    run: str
    attempt: int
    seq: int
    status_json: bytes
    events_json: bytes = b""


@dataclass(frozen=True)
class LogChunkReport:
    """One LogChunk as received."""

    run: str
    attempt: int
    seq: int
    task: str
    step: str
    streams: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    truncated: bool = False


@dataclass(frozen=True)
class RunRequest:
    """A CreateRunRequest as received."""

    pipeline: str
    trigger_json: bytes = b""
    parameters: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    dedup_key: str = ""
    concurrency_policy: str = ""


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError as exc:
        raise Invalid([FieldError(what, f"not JSON: {exc}")]) from exc


def agent_status(data: Any) -> PipelineRunStatus:
    """The agent-owned status fields of a RunUpdate snapshot; Invalid naming what is wrong."""
    if not isinstance(data, dict):
        raise Invalid([FieldError("runUpdate.status", "must be a JSON object")])
    owned = {key: data[key] for key in AGENT_STATUS_FIELDS if key in data}
    try:
        return PipelineRunStatus.model_validate(owned)
    except ValidationError as exc:
        raise Invalid(
            [
                FieldError("runUpdate.status." + ".".join(str(p) for p in e["loc"]), e["msg"])
                for e in exc.errors()
            ]
        ) from exc


def apply_status(run: PipelineRun, reported: PipelineRunStatus, now: datetime) -> PipelineRun:
    """The run with the agent's snapshot of its current attempt applied."""
    status = run.status
    if status.phase.finished and not reported.phase.finished:
        return run  # an older snapshot replayed after the final one: keep the end
    status.phase = reported.phase
    status.startedAt = reported.startedAt
    status.finishedAt = reported.finishedAt
    status.message = reported.message
    status.tasks = reported.tasks
    if reported.phase.finished:
        if status.finishedAt is None:
            status.finishedAt = now
        if status.attempts:
            attempt = status.attempts[-1]
            attempt.finishedAt = attempt.finishedAt or status.finishedAt
            attempt.result = reported.phase.value
    return run


class RunReportService:
    """Applies agents' run reports to PipelineRuns, the log store and the notifiers."""

    def __init__(
        self,
        store: ObjectStore,
        runs: RunService,
        logs: LogStore,
        *,
        notifiers: RunEventPublisher | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.runs = runs
        self.logs = logs
        self.notifiers = notifiers
        self.clock = clock
        # (run, attempt) → agent: which agent an attempt was given to never changes.
        self._owners: OrderedDict[tuple[str, int], str | None] = OrderedDict()

    async def _owner(self, run: str, attempt: int) -> str | None:
        key = (run, attempt)
        if key in self._owners:
            return self._owners[key]
        try:
            stored = await self.store.get(PipelineRun, run)
        except NotFound:
            return None
        owner = None
        for recorded in stored.status.attempts:
            if recorded.number == attempt:
                owner = recorded.agent
        if owner is not None:
            self._owners[key] = owner
            while len(self._owners) > ATTEMPT_OWNERS_KEPT:
                self._owners.popitem(last=False)
        return owner

    async def apply_update(self, agent: str, report: RunUpdateReport) -> None:
        """Store a RunUpdate of `agent` (once); stale or foreign attempts are dropped."""
        if report.seq and report.seq <= await self._applied(report.run, report.attempt):
            return
        reported = agent_status(_json(report.status_json, "runUpdate.status_json"))
        events = _json(report.events_json, "runUpdate.events_json") or []
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise Invalid([FieldError("runUpdate.events_json", "must be a JSON list of objects")])
        now = self.clock()
        current = True

        def update(run: PipelineRun) -> PipelineRun | None:
            nonlocal current
            current = (
                run.status.agent == agent
                and current_attempt(run) == report.attempt
                and run.status.attempts[-1].agent == agent
            )
            if not current:
                return None
            return apply_status(run, reported, now)

        try:
            run = await self.store.mutate(PipelineRun, report.run, update)
        except NotFound:
            log.info("agent %s reports on run %s, which does not exist", agent, report.run)
            return
        if not current:
            log.info(
                "agent %s reports attempt %d of run %s, which is not current: ignored",
                agent,
                report.attempt,
                report.run,
            )
            return
        await self.logs.append_events(report.run, events, attempt=report.attempt, seq=report.seq)
        if events and self.notifiers is not None:
            self.notifiers.publish(run, events)

    async def append_log(self, agent: str, chunk: LogChunkReport) -> None:
        """Store a LogChunk of `agent` (once), if that attempt of the run was given to it."""
        if chunk.seq and chunk.seq <= await self._applied(chunk.run, chunk.attempt):
            return
        if await self._owner(chunk.run, chunk.attempt) != agent:
            log.info(
                "agent %s sent output of run %s attempt %d, which is not its: dropped",
                agent,
                chunk.run,
                chunk.attempt,
            )
            return
        records = [
            LogRecord(
                task=chunk.task,
                step=chunk.step,
                attempt=chunk.attempt,
                stream=chunk.streams[i] if i < len(chunk.streams) else "stdout",
                time=chunk.times[i] if i < len(chunk.times) else 0.0,
                line=line,
            )
            for i, line in enumerate(chunk.lines)
        ]
        await self.logs.append(
            chunk.run,
            chunk.attempt,
            chunk.task,
            chunk.step,
            records,
            chunk.truncated,
            seq=chunk.seq or None,
        )

    async def _applied(self, run: str, attempt: int) -> int:
        try:
            return await self.logs.applied_seq(run, attempt)
        except Invalid:
            return 0

    async def create_run(self, agent: str, request: RunRequest) -> CreatedRun:
        """A run requested by `agent` (cron), for a pipeline scheduled on it."""
        try:
            pipeline = await self.store.get(Pipeline, request.pipeline)
        except NotFound:
            raise NotFound(f"pipeline '{request.pipeline}' not found") from None
        status = pipeline.status
        if status.phase != SchedulePhase.SCHEDULED or status.agent != agent:
            raise Invalid(
                [
                    FieldError(
                        "createRun.pipeline",
                        f"pipeline '{request.pipeline}' is not scheduled on agent '{agent}'",
                    )
                ]
            )
        trigger_data = _json(request.trigger_json, "createRun.trigger_json") or {}
        try:
            trigger = RunTrigger.model_validate(trigger_data)
        except ValidationError as exc:
            raise Invalid(
                [FieldError("createRun.trigger_json", e["msg"]) for e in exc.errors()]
            ) from exc
        return await self.runs.create_run(
            request.pipeline,
            trigger=trigger,
            parameters=request.parameters,
            env=request.env,
            dedup_key=request.dedup_key or None,
            concurrency_policy=request.concurrency_policy or "Allow",
        )

    async def record_trigger_state(self, agent: str, trigger: str, status_json: bytes) -> None:
        """Merge what the agent observed of a trigger into Trigger.status."""
        data = _json(status_json, "triggerState.status_json")
        if not isinstance(data, dict):
            raise Invalid([FieldError("triggerState.status_json", "must be a JSON object")])
        known = {key: data[key] for key in TriggerStatus.model_fields if key in data}
        stored = await self.store.get(Trigger, trigger)
        if not await self._any_on(stored, agent):
            raise Invalid(
                [
                    FieldError(
                        "triggerState.trigger",
                        f"trigger '{trigger}' starts no pipeline scheduled on agent '{agent}'",
                    )
                ]
            )

        def update(obj: Trigger) -> Trigger | None:
            merged = {**obj.status.model_dump(mode="json"), **known}
            try:
                status = TriggerStatus.model_validate(merged)
            except ValidationError as exc:
                raise Invalid(
                    [FieldError("triggerState.status_json", e["msg"]) for e in exc.errors()]
                ) from exc
            if status == obj.status:
                return None
            obj.status = status
            return obj

        await self.store.mutate(Trigger, trigger, update)

    async def _any_on(self, trigger: Trigger, agent: str) -> bool:
        for name in trigger.spec.pipelines:
            try:
                pipeline = await self.store.get(Pipeline, name)
            except NotFound:
                continue
            if pipeline.status.phase == SchedulePhase.SCHEDULED and pipeline.status.agent == agent:
                return True
        return False

    async def command_refused(self, agent: str, command_id: str, error: str) -> None:
        """The agent refused a command (before it is deleted): a refused StartRun fails the
        run, since the agent would refuse it again."""
        if not command_id or "/" in command_id:
            return
        command = await self.store.commands.get(agent, command_id)
        if command is None or command.kind != "StartRun":
            return
        attempt = command.attempt
        await self.runs.fail_attempt(
            command.run, agent, attempt, f"agent {agent} refused to start the run: {error}"
        )

    async def record_cancelled(self, run: PipelineRun) -> None:
        """A run no agent held was cancelled: record its end as an event and announce it (no
        agent will report it)."""
        event = {
            "kind": "RunCancelled",
            "run_id": run.metadata.name,
            "time": (run.status.finishedAt or self.clock()).isoformat(),
            "message": run.status.message or "cancelled",
        }
        await self.logs.append_events(run.metadata.name, [event])
        if self.notifiers is not None:
            self.notifiers.publish(run, [event])

    async def agent_connected(self, agent: str, runs: list[tuple[str, int]]) -> None:
        """Reconcile the runs assigned to `agent` with the ones its Hello says it runs."""
        try:
            await self.runs.reconcile_agent_runs(agent, runs)
        except XeneError as exc:
            log.warning("agent %s: its runs were not reconciled: %s", agent, exc)
