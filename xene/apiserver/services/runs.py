"""PipelineRuns: numbered creation, concurrency policies, cancellation, interruption, deletion.

Numbering: the run, its number and its idempotency key are stored in one transaction by the
store's run records (store/run_records.py), so run numbers have no gaps and no duplicates
however many triggers fire at once, and a key repeated (a cron tick, a webhook delivery) finds
the run the first request made.

A run is *assigned* while `status.agent` is set: the dispatcher sets it together with a new
RunAttempt and the StartRun command, in one transaction; a cancel of an assigned run writes its
CancelRun command in the same transaction as `cancelRequested`, so no command is lost or sent
for a state that was never stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from xene.api.derivation import PIPELINE_LABEL, WORKFLOW_LABEL
from xene.api.errors import Conflict, FieldError, Invalid, NotFound, XeneError
from xene.api.meta import ObjectMeta, utc_now
from xene.api.pipeline import (
    Pipeline,
    SchedulePhase,
    pipeline_object_name,
    unschedulable_reason,
)
from xene.api.plan import compile_plan
from xene.api.run import (
    PipelineRun,
    PipelineRunSpec,
    PipelineRunStatus,
    RunAttempt,
    RunPhase,
    RunTrigger,
    run_object_name,
)
from xene.store.commands import AgentCommand, new_command
from xene.store.informer import Informer
from xene.store.kv import TxnPart
from xene.store.objects import ObjectStore

log = logging.getLogger(__name__)

RUN_NUMBER_LABEL = "xene.dev/run-number"
DEDUP_ANNOTATION = "xene.dev/dedup-key"
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
MAX_DEDUP_KEY_LENGTH = 512
RUNS_BY_PIPELINE = "pipeline"
RUNS_BY_AGENT = "agent"


def index_runs(cache: Informer[PipelineRun]) -> Informer[PipelineRun]:
    """The runs' cache with the indexes the run controllers read by: RUNS_BY_PIPELINE (the
    Pipeline object name) and RUNS_BY_AGENT (the agent holding the run)."""
    cache.add_index(RUNS_BY_PIPELINE, lambda run: [pipeline_of(run)])
    cache.add_index(RUNS_BY_AGENT, lambda run: [run.status.agent] if run.status.agent else [])
    return cache


def pipeline_of(run: PipelineRun) -> str:
    """The Pipeline object name a run belongs to."""
    return run.metadata.labels.get(PIPELINE_LABEL) or pipeline_object_name(
        run.spec.workflow, run.spec.pipeline
    )


def current_attempt(run: PipelineRun) -> int:
    """The number of the run's latest attempt (0 before the first dispatch)."""
    return run.status.attempts[-1].number if run.status.attempts else 0


def is_assigned(run: PipelineRun) -> bool:
    """True while an agent holds the run's current attempt."""
    return run.status.agent is not None and not run.status.phase.finished


def start_payload(run: PipelineRun, pipeline: Pipeline) -> dict[str, object]:
    """What a StartRun command carries: the run, its attempt, the pipeline and the plan the
    agent executes (compiled here once), as JSON data."""
    payload: dict[str, object] = {
        "attempt": current_attempt(run),
        "run": run.to_dict(),
        "pipeline": pipeline.to_dict(),
    }
    try:
        plan = compile_plan(pipeline.spec)
    except (XeneError, ValueError) as exc:
        # A stored pipeline was validated; should one still not compile, the agent compiles
        # it again and refuses the run with this same reason.
        log.warning("run %s: no plan for pipeline %s: %s", run.metadata.name, pipeline.name, exc)
    else:
        payload["plan"] = plan.model_dump(mode="json", exclude_none=True)
    return payload


@dataclass(frozen=True)
class CreatedRun:
    """What create_run did: the run (new or found by its key), or why none was made."""

    run: PipelineRun | None
    created: bool
    skipped: str | None = None


def _check_create(dedup: str | None, policy: str) -> None:
    problems: list[FieldError] = []
    if dedup is not None and (not dedup or len(dedup) > MAX_DEDUP_KEY_LENGTH):
        problems.append(
            FieldError("dedupKey", f"must be 1 to {MAX_DEDUP_KEY_LENGTH} characters long")
        )
    if policy not in CONCURRENCY_POLICIES:
        problems.append(
            FieldError(
                "concurrencyPolicy",
                f"'{policy}' is not one of {', '.join(CONCURRENCY_POLICIES)}",
            )
        )
    if problems:
        raise Invalid(problems)


def cancel_command(store: ObjectStore, run: PipelineRun, reason: str) -> TxnPart:
    """A CancelRun for the run's current attempt to its agent, as part of a transaction."""
    assert run.status.agent is not None
    command = new_command(
        "CancelRun", run.metadata.name, {"reason": reason, "attempt": current_attempt(run)}
    )
    return store.commands.sending(run.status.agent, command)


class RunService:
    """Creates, cancels, interrupts and deletes PipelineRuns in etcd."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        history_limit: int = 50,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.history_limit = history_limit
        self.clock = clock

    # -- reads ----------------------------------------------------------------------------

    async def get(self, name: str) -> PipelineRun:
        """One run; NotFound when there is none."""
        return await self.store.get(PipelineRun, name)

    async def why_waiting(self, run: PipelineRun) -> str | None:
        """Why a Pending run cannot start now (its pipeline is NotScheduled); None otherwise."""
        if run.status.phase != RunPhase.PENDING or is_assigned(run):
            return None
        name = pipeline_of(run)
        try:
            pipeline = await self.store.get(Pipeline, name)
        except NotFound:
            return f"pipeline {name} no longer exists"
        status = pipeline.status
        return unschedulable_reason(name, status.phase, status.reason, status.message)

    async def list_runs(self, pipeline: str) -> list[PipelineRun]:
        """Every run of a Pipeline object, oldest (lowest number) first."""
        runs, _ = await self.store.list(
            PipelineRun, label_selector={PIPELINE_LABEL: pipeline}, name_prefix=f"{pipeline}."
        )
        return sorted(runs, key=lambda run: run.spec.number)

    # -- creation -------------------------------------------------------------------------

    async def create_run(
        self,
        pipeline: str,
        *,
        trigger: RunTrigger,
        parameters: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        dedup_key: str | None = None,
        concurrency_policy: str = "Allow",
    ) -> CreatedRun:
        """A new Pending run numbered next for `pipeline`, or the run its `dedup_key` made.

        Forbid creates nothing while a run of the pipeline is unfinished (`skipped` says why);
        Replace cancels the unfinished ones first. NotFound when the pipeline does not exist.
        """
        _check_create(dedup_key, concurrency_policy)
        pipeline_object = await self.store.get(Pipeline, pipeline)
        if dedup_key is not None:
            existing = await self._deduplicated(pipeline, dedup_key)
            if existing is not None:
                return CreatedRun(existing, False)
        if concurrency_policy != "Allow":
            unfinished = [r for r in await self.list_runs(pipeline) if not r.status.phase.finished]
            if unfinished and concurrency_policy == "Forbid":
                names = ", ".join(r.metadata.name for r in unfinished)
                return CreatedRun(
                    None, False, f"concurrencyPolicy Forbid: run {names} is not finished"
                )
            for run in unfinished:
                await self.request_cancel(
                    run.metadata.name, "replaced by a newer run (concurrencyPolicy Replace)"
                )
        created = await self._create(
            pipeline_object, trigger, dict(parameters or {}), dict(env or {}), dedup_key
        )
        if created.created and created.run is not None:
            await self._record_last_run(pipeline, created.run.spec.number)
        return created

    async def _deduplicated(self, pipeline: str, key: str) -> PipelineRun | None:
        name = await self.store.runs.duplicate_of(pipeline, key)
        if name is None:
            return None
        try:
            return await self.store.get(PipelineRun, name)
        except NotFound:
            return None  # collected meanwhile; the key goes with it

    async def _create(
        self,
        pipeline: Pipeline,
        trigger: RunTrigger,
        parameters: dict[str, str],
        env: dict[str, str],
        dedup: str | None,
    ) -> CreatedRun:
        name = pipeline.metadata.name
        agent = pipeline.status.agent if pipeline.status.phase == SchedulePhase.SCHEDULED else None
        if agent is not None and await self.store.liveness.get(agent) is None:
            agent = None  # not live now: the dispatcher takes the run once it is placed

        def build(number: int) -> PipelineRun:
            run = self._new_run(pipeline, number, trigger, parameters, env, dedup)
            if agent is not None:
                # Dispatched in the creating transaction: the run's first attempt starts without
                # waiting for the dispatcher's watch to see it (trigger-to-start latency).
                run.status.agent = agent
                run.status.attempts.append(
                    RunAttempt(number=1, agent=agent, startedAt=self.clock())
                )
            return run

        def start(run: PipelineRun) -> tuple[str, AgentCommand]:
            assert agent is not None
            command = new_command("StartRun", run.metadata.name, start_payload(run, pipeline))
            return agent, command

        made = await self.store.runs.create(
            name, build, dedup_key=dedup, start=start if agent is not None else None
        )
        if made.run is None:
            existing = await self._deduplicated(name, dedup or "")
            if existing is None:
                raise Conflict(f"the run made for key '{dedup}' of pipeline '{name}' is gone")
            return CreatedRun(existing, False)
        log.info(
            "run %s created (%s trigger)%s",
            made.run.metadata.name,
            trigger.type,
            f" and dispatched to agent {agent}" if agent else "",
        )
        return CreatedRun(made.run, True)

    def _new_run(
        self,
        pipeline: Pipeline,
        number: int,
        trigger: RunTrigger,
        parameters: dict[str, str],
        env: dict[str, str],
        dedup: str | None,
    ) -> PipelineRun:
        name = pipeline.metadata.name
        return PipelineRun(
            metadata=ObjectMeta(
                name=run_object_name(name, number),
                labels={
                    WORKFLOW_LABEL: pipeline.spec.workflow,
                    PIPELINE_LABEL: name,
                    RUN_NUMBER_LABEL: str(number),
                },
                annotations={DEDUP_ANNOTATION: dedup} if dedup is not None else {},
            ),
            spec=PipelineRunSpec(
                workflow=pipeline.spec.workflow,
                pipeline=pipeline.spec.pipeline,
                number=number,
                trigger=trigger,
                parameters=parameters,
                env=env,
                pipelineGeneration=pipeline.metadata.generation,
            ),
            status=PipelineRunStatus(phase=RunPhase.PENDING),
        )

    async def _record_last_run(self, pipeline: str, number: int) -> None:
        def update(stored: Pipeline) -> Pipeline | None:
            if stored.status.lastRun is not None and stored.status.lastRun >= number:
                return None
            stored.status.lastRun = number
            return stored

        try:
            await self.store.mutate(Pipeline, pipeline, update)
        except XeneError as exc:
            log.info("pipeline %s: lastRun not recorded: %s", pipeline, exc)

    # -- cancellation ---------------------------------------------------------------------

    async def request_cancel(self, name: str, reason: str = "cancelled by user") -> PipelineRun:
        """Cancel a run: at once while no agent holds it, else ask its agent (CancelRun).

        A finished run is returned unchanged. NotFound when the run does not exist.
        """
        now = self.clock()

        def cancel(run: PipelineRun) -> PipelineRun | None:
            status = run.status
            if status.phase.finished or (status.cancelRequested and is_assigned(run)):
                return None
            status.cancelRequested = True
            if not is_assigned(run):
                status.phase = RunPhase.CANCELLED
                status.finishedAt = now
                status.message = reason
            return run

        def command(run: PipelineRun) -> Sequence[TxnPart]:
            if not is_assigned(run):
                return ()
            return [cancel_command(self.store, run, reason)]

        run = await self.store.mutate(PipelineRun, name, cancel, also=command)
        log.info("run %s: cancel requested (%s)", name, reason)
        return run

    # -- interruption ---------------------------------------------------------------------

    async def interrupt(
        self, name: str, agent: str, reason: str, *, only_if_gone: bool = False
    ) -> PipelineRun | None:
        """The agent no longer runs the run's current attempt: record it, and put the run
        back to Pending (Cancelled if a cancel was requested). Nothing when it moved on.

        With `only_if_gone`, the write holds only while the agent has no liveness key (Stale
        otherwise): for callers that judged the agent lost from a cache.
        """
        now = self.clock()
        stale = await self._start_commands(agent, name)

        def requeue(run: PipelineRun) -> PipelineRun | None:
            status = run.status
            if status.phase.finished or status.agent != agent:
                return None
            if status.attempts:
                attempt = status.attempts[-1]
                attempt.finishedAt = now
                attempt.result = f"Interrupted: {reason}"
            status.agent = None
            status.startedAt = None
            status.tasks = {}
            if status.cancelRequested:
                status.phase = RunPhase.CANCELLED
                status.finishedAt = now
                status.message = f"cancelled (its agent was lost: {reason})"
            else:
                status.phase = RunPhase.PENDING
                status.message = f"Interrupted: {reason}; waiting for an agent"
            return run

        def drop_commands(_: PipelineRun) -> Sequence[TxnPart]:
            # A StartRun still queued for the lost agent must not start the old attempt later.
            # (If the agent comes back still running it, its Hello brings a CancelRun.)
            parts = [self.store.commands.deleting(agent, command_id) for command_id in stale]
            return [*parts, self.store.liveness.gone(agent)] if only_if_gone else parts

        try:
            before = await self.store.get(PipelineRun, name)
            run = await self.store.mutate(PipelineRun, name, requeue, also=drop_commands)
        except NotFound:
            return None
        if run.metadata.resourceVersion == before.metadata.resourceVersion:
            return None
        log.warning("run %s interrupted: %s", name, reason)
        return run

    async def fail_attempt(self, name: str, agent: str, attempt: int, message: str) -> None:
        """End the run as Failed if `attempt` on `agent` is still its current one (the agent
        refused to start it: retrying there would fail the same way)."""
        now = self.clock()

        def fail(run: PipelineRun) -> PipelineRun | None:
            status = run.status
            if status.phase.finished or status.agent != agent or current_attempt(run) != attempt:
                return None
            status.phase = RunPhase.FAILED
            status.finishedAt = now
            status.message = message
            status.attempts[-1].finishedAt = now
            status.attempts[-1].result = f"Failed: {message}"
            return run

        try:
            await self.store.mutate(PipelineRun, name, fail)
        except NotFound:
            return
        log.warning("run %s attempt %d failed: %s", name, attempt, message)

    async def _start_commands(self, agent: str, run: str) -> list[str]:
        """Ids of the commands for `run` still queued for `agent`."""
        return [c.id for c in await self.store.commands.list(agent) if c.run == run]

    async def reconcile_agent_runs(self, agent: str, running: Sequence[tuple[str, int]]) -> None:
        """After an agent (re)connects: interrupt the runs assigned to it that it does not run
        and that no queued StartRun will bring; cancel attempts it runs that are not current."""
        runs, revision = await self.store.list(PipelineRun)
        # Commands read at the same revision as the runs: an assignment and its StartRun are
        # written together, so each assigned run is either listed by the agent or queued.
        queued = await self.store.commands.list(agent, revision=revision)
        pending_starts = {(c.run, c.attempt) for c in queued if c.kind == "StartRun"}
        listed = {(name, int(attempt)) for name, attempt in running}
        by_name = {run.metadata.name: run for run in runs}
        for run in runs:
            if run.status.agent != agent or run.status.phase.finished:
                continue
            key = (run.metadata.name, current_attempt(run))
            if key in listed or key in pending_starts:
                continue
            await self.interrupt(
                run.metadata.name, agent, f"agent {agent} reconnected without this run"
            )
        for name, attempt in sorted(listed):
            run_now = by_name.get(name)
            if (
                run_now is not None
                and run_now.status.agent == agent
                and not run_now.status.phase.finished
                and current_attempt(run_now) == attempt
            ):
                continue
            await self._cancel_stray(agent, name, attempt)

    async def _cancel_stray(self, agent: str, run: str, attempt: int) -> None:
        command = new_command(
            "CancelRun",
            run,
            {"reason": "this attempt of the run is no longer current", "attempt": attempt},
        )
        await self.store.commands.send(agent, command)
        log.info(
            "agent %s runs %s attempt %d, which is not current: cancelling", agent, run, attempt
        )

    async def rerun(self, name: str) -> PipelineRun:
        """A new run of run `name`'s pipeline with its parameters, environment and trigger
        (payload included); the pipeline as it is now, like a retry of a CI build."""
        original = await self.get(name)
        trigger = original.spec.trigger.model_copy(update={"rerunOf": name})
        try:
            created = await self.create_run(
                pipeline_of(original),
                trigger=trigger,
                parameters=dict(original.spec.parameters),
                env=dict(original.spec.env),
            )
        except NotFound:
            raise NotFound(
                f"cannot rerun {name}: its pipeline {pipeline_of(original)} no longer exists"
            ) from None
        assert created.run is not None  # only a concurrency policy other than Allow skips
        log.info("run %s created as a rerun of %s", created.run.metadata.name, name)
        return created.run

    # -- deletion -------------------------------------------------------------------------

    async def delete(self, name: str) -> PipelineRun:
        """Delete a run that no agent is running (finished, or Pending and not yet dispatched);
        Conflict with a hint for one that is running."""
        run = await self.get(name)
        if is_assigned(run):
            raise Conflict(
                f"run {name} is {run.status.phase.value} on agent {run.status.agent}: "
                f"cancel it first (xenectl cancel {name}), then delete it"
            )
        if not await self.delete_run(run):
            raise Conflict(f"run {name} changed while it was being deleted; try again")
        log.info("run %s deleted", name)
        return run

    async def delete_run(self, run: PipelineRun) -> bool:
        """Delete a run and its idempotency key; False when it changed or is gone meanwhile."""
        dedup = run.metadata.annotations.get(DEDUP_ANNOTATION)
        return await self.store.runs.delete(run, pipeline_of(run), dedup)
