"""Fires the cron triggers of one assigned pipeline: one run per tick, at most one catch-up.

Exactly once per tick: every tick asks the server for a run with the idempotency key
`cron:{trigger}:{scheduled unix time}`, which the server stores in the same etcd transaction as
the run. Two agents that briefly both hold the pipeline, or a new agent after the pipeline moved,
ask with the same key and get the first run back instead of a second one.

The agent keeps no history, so after a (re)start the controller offers only the latest tick at
or before now (after the pipeline existed, and within startingDeadline when one is set): if that
tick already has a run the key finds it and nothing happens; otherwise it is the one catch-up run
for everything missed while no agent served the trigger.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from xene.agent.contract import CreateRunResult, ServerPeer
from xene.agent.supervisor import AssignedPipeline
from xene.api.cron import CronSchedule
from xene.api.durations import parse_duration
from xene.api.errors import Unavailable
from xene.api.pipeline import Pipeline
from xene.api.trigger import trigger_object_name
from xene.api.workflow import TriggerSpec
from xene.backoff import Backoff
from xene.engine.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

# A wall clock may jump (NTP, suspend): long waits are cut into slices and re-checked.
MAX_SLEEP_SECONDS = 30.0
RETRY_INITIAL_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0


def tick_dedup_key(trigger: str, tick: datetime) -> str:
    """The idempotency key of one tick of `trigger`: the same on every agent."""
    return f"cron:{trigger}:{int(tick.timestamp())}"


@dataclass(frozen=True)
class CronOptions:
    """Knobs of the controller; `schedule_override` replaces every schedule (tests only)."""

    schedule_override: str | None = None
    retry_initial_seconds: float = RETRY_INITIAL_SECONDS
    retry_max_seconds: float = RETRY_MAX_SECONDS


@dataclass
class FireResult:
    """What asking for a tick's run came to."""

    run: str | None = None
    created: bool = False
    skipped: str | None = None
    error: str | None = None


class CronTrigger:
    """One cron trigger of one pipeline, served until cancelled."""

    def __init__(
        self,
        pipeline: Pipeline,
        spec: TriggerSpec,
        connection: ServerPeer,
        *,
        clock: Clock = SYSTEM_CLOCK,
        options: CronOptions | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.spec = spec
        self.connection = connection
        self.clock = clock
        self.options = options or CronOptions()
        self.schedule = CronSchedule.parse(
            self.options.schedule_override or spec.schedule or "", spec.timezone
        )
        self.deadline = (
            timedelta(seconds=parse_duration(spec.startingDeadline))
            if spec.startingDeadline
            else None
        )
        self.object_name = trigger_object_name(pipeline.spec.workflow, spec.name)
        self.last_fire_time: datetime | None = None
        self.next_fire_time: datetime | None = None
        self.last_run: str | None = None
        self.missed_ticks = 0
        self.fired: list[FireResult] = []

    @property
    def pipeline_name(self) -> str:
        return self.pipeline.metadata.name

    async def run(self) -> None:
        """Fire every tick from now on (plus one catch-up tick first), until cancelled."""
        if self.spec.suspend:
            log.info("trigger %s of %s is suspended", self.spec.name, self.pipeline_name)
            await self._report()
            return
        now = self.clock.now()
        latest = self.schedule.latest_at_or_before(now)
        created_at = self.pipeline.metadata.creationTimestamp
        if created_at is None or latest >= created_at:
            await self._fire_due(latest, catch_up=True)
        tick = self.schedule.next_after(max(latest, now))
        while True:
            self.next_fire_time = tick
            await self._report()
            await self._sleep_until(tick)
            now = self.clock.now()
            due = self.schedule.latest_at_or_before(now)
            # Woken late (the host slept, the loop stalled): the ticks in between are missed.
            passed = self.schedule.ticks_between(tick, due) + (1 if due > tick else 0)
            if passed:
                self._missed(passed, f"{passed} tick(s) passed while the agent was not looking")
            await self._fire_due(due, catch_up=False)
            tick = self.schedule.next_after(due)

    async def _fire_due(self, tick: datetime, *, catch_up: bool) -> None:
        late = self.clock.now() - tick
        if self.deadline is not None and late > self.deadline:
            self._missed(1, f"tick {tick.isoformat()} is {late} late, past startingDeadline")
            await self._report()
            return
        if catch_up:
            log.info(
                "trigger %s of %s: offering the latest tick %s (a run is made unless it exists)",
                self.spec.name,
                self.pipeline_name,
                tick.isoformat(),
            )
        result = await self._fire(tick)
        self.fired.append(result)
        await self._report()

    async def _fire(self, tick: datetime) -> FireResult:
        """Ask for the tick's run, retrying while the server is unreachable, until the tick's
        deadline (startingDeadline, else the next tick)."""
        give_up = tick + self.deadline if self.deadline else self.schedule.next_after(tick)
        # No jitter: only the agent running the pipeline asks for its tick.
        backoff = Backoff(
            self.options.retry_initial_seconds, self.options.retry_max_seconds, jitter=0.0
        )
        trigger = {"type": "cron", "name": self.spec.name, "scheduledTime": tick.isoformat()}
        while True:
            problem: str
            try:
                response = await self.connection.create_run(
                    self.pipeline_name,
                    trigger=trigger,
                    parameters={},
                    env={},
                    dedup_key=tick_dedup_key(self.spec.name, tick),
                    concurrency_policy=self.spec.concurrencyPolicy,
                )
            except Unavailable as exc:
                problem = exc.message
            else:
                if not response.error:
                    return self._fired(tick, response)
                problem = response.error
            remaining = (give_up - self.clock.now()).total_seconds()
            if remaining <= 0:
                self._missed(1, f"no run for tick {tick.isoformat()}: {problem}")
                return FireResult(error=problem)
            delay = min(backoff.next_delay(), remaining)
            log.warning(
                "trigger %s of %s: tick %s not started yet (%s); retrying in %.1fs",
                self.spec.name,
                self.pipeline_name,
                tick.isoformat(),
                problem,
                delay,
            )
            await self.clock.sleep(delay)

    def _fired(self, tick: datetime, response: CreateRunResult) -> FireResult:
        skipped, run, created = response.skipped, response.run, response.created
        if skipped:
            log.info(
                "trigger %s of %s: tick skipped: %s", self.spec.name, self.pipeline_name, skipped
            )
        elif created:
            log.info(
                "trigger %s of %s: tick %s started run %s",
                self.spec.name,
                self.pipeline_name,
                tick.isoformat(),
                run,
            )
        else:
            log.info(
                "trigger %s of %s: tick %s already has run %s",
                self.spec.name,
                self.pipeline_name,
                tick.isoformat(),
                run,
            )
        if run is not None or skipped:
            if self.last_fire_time is None or tick > self.last_fire_time:
                self.last_fire_time = tick
        if run is not None:
            self.last_run = run
        return FireResult(run=run, created=created, skipped=skipped)

    def _missed(self, count: int, why: str) -> None:
        self.missed_ticks += count
        log.warning("trigger %s of %s: missed: %s", self.spec.name, self.pipeline_name, why)

    async def _sleep_until(self, moment: datetime) -> None:
        while True:
            remaining = (moment - self.clock.now()).total_seconds()
            if remaining <= 0:
                return
            await self.clock.sleep(min(remaining, MAX_SLEEP_SECONDS))

    def status(self) -> dict[str, Any]:
        """The Trigger.status fields this controller knows, as JSON-ready values."""
        status: dict[str, Any] = {
            "nextFireTime": self.next_fire_time.isoformat() if self.next_fire_time else None
        }
        if self.last_fire_time is not None:
            status["lastFireTime"] = self.last_fire_time.isoformat()
        if self.last_run is not None:
            status["lastRun"] = self.last_run
        if self.missed_ticks:
            status["missedTicks"] = self.missed_ticks
        return status

    async def _report(self) -> None:
        try:
            await self.connection.report_trigger_state(self.object_name, self.status())
        except Exception as exc:  # best effort: the next tick reports again
            log.debug("trigger %s: state not reported: %s", self.object_name, exc)


class CronPipelineHandler:
    """Serves an assigned pipeline by running its cron triggers (the supervisor's handler)."""

    def __init__(
        self,
        connection: ServerPeer,
        *,
        clock: Clock = SYSTEM_CLOCK,
        options: CronOptions | None = None,
    ) -> None:
        self.connection = connection
        self.clock = clock
        self.options = options or CronOptions()

    def triggers_of(self, pipeline: Pipeline) -> list[CronTrigger]:
        """One CronTrigger per cron trigger of the pipeline."""
        return [
            CronTrigger(pipeline, spec, self.connection, clock=self.clock, options=self.options)
            for spec in pipeline.spec.triggers
            if spec.type == "cron"
        ]

    async def run_pipeline(self, assigned: AssignedPipeline) -> None:
        """Run the pipeline's cron triggers until cancelled; return at once if it has none."""
        if assigned.pipeline is None:
            return
        triggers = self.triggers_of(assigned.pipeline)
        if not triggers:
            return
        async with asyncio.TaskGroup() as group:
            for trigger in triggers:
                group.create_task(trigger.run(), name=f"cron {trigger.object_name}")
