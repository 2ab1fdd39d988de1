"""The cron controller against an in-memory server with a hand-driven clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.agent.cron.fakes import FakeConnection, FakeServer, ManualClock, settle
from xene.agent.cron.controller import (
    CronOptions,
    CronPipelineHandler,
    CronTrigger,
    tick_dedup_key,
)
from xene.agent.supervisor import AssignedPipeline
from xene.api.meta import ObjectMeta
from xene.api.pipeline import Pipeline, PipelineObjectSpec
from xene.api.workflow import StepSpec, TaskSpec, TriggerSpec

FAST_RETRY = CronOptions(retry_initial_seconds=1.0, retry_max_seconds=1.0)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def iso(text: str) -> str:
    return at(text).isoformat()


def pipeline(*triggers: TriggerSpec, created: str = "2024-01-01T00:00:00") -> Pipeline:
    return Pipeline(
        metadata=ObjectMeta(name="hello.build", creationTimestamp=at(created), generation=1),
        spec=PipelineObjectSpec(
            workflow="hello",
            pipeline="build",
            triggers=list(triggers),
            tasks={"t": TaskSpec(steps=[StepSpec(name="s", run="true")])},
        ),
    )


def cron(schedule: str = "* * * * *", **fields: Any) -> TriggerSpec:
    return TriggerSpec(name="tick", type="cron", schedule=schedule, **fields)


@contextlib.asynccontextmanager
async def serving(*triggers: CronTrigger) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(trigger.run()) for trigger in triggers]
    await settle()
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


async def test_every_tick_makes_one_run_on_time() -> None:
    clock = ManualClock(at("2024-01-01T10:00:00.500"))
    server = FakeServer()
    trigger = CronTrigger(pipeline(cron()), cron(), FakeConnection(server), clock=clock)
    async with serving(trigger):
        # The 10:00 tick half a second ago is offered at once.
        assert server.scheduled_times() == [iso("2024-01-01T10:00:00")]
        await clock.advance(59.0)  # 10:00:59.5
        assert len(server.runs) == 1
        await clock.advance(1.0)  # 10:01:00.5: within a second of the tick
        await clock.advance(120.0)
    assert server.scheduled_times() == [
        iso("2024-01-01T10:00:00"),
        iso("2024-01-01T10:01:00"),
        iso("2024-01-01T10:02:00"),
        iso("2024-01-01T10:03:00"),
    ]
    first = server.runs[0]
    assert first["trigger"] == {
        "type": "cron",
        "name": "tick",
        "scheduledTime": iso("2024-01-01T10:00:00"),
    }
    assert first["dedup_key"] == f"cron:tick:{int(at('2024-01-01T10:00:00').timestamp())}"
    assert trigger.last_run == "hello.build.4"
    assert trigger.missed_ticks == 0


async def test_runs_start_within_a_second_of_the_tick() -> None:
    clock = ManualClock(at("2024-01-01T10:00:10"))
    server = FakeServer()
    seen: list[datetime] = []
    connection = FakeConnection(server)
    original = connection.create_run

    async def record(pipeline_name: str, **kwargs: Any) -> Any:
        seen.append(clock.now())
        return await original(pipeline_name, **kwargs)

    connection.create_run = record  # type: ignore[method-assign]
    trigger = CronTrigger(
        pipeline(cron(startingDeadline="5s")), cron(startingDeadline="5s"), connection, clock=clock
    )
    async with serving(trigger):
        await clock.advance(200.0, step=0.25)
    assert [t.isoformat() for t in seen] == [
        iso("2024-01-01T10:01:00"),
        iso("2024-01-01T10:02:00"),
        iso("2024-01-01T10:03:00"),
    ]


async def test_catch_up_after_downtime_is_one_run_for_the_latest_tick() -> None:
    clock = ManualClock(at("2024-01-01T10:07:30"))
    server = FakeServer()
    spec = cron("*/5 * * * *")
    trigger = CronTrigger(
        pipeline(spec, created="2024-01-01T09:00:00"), spec, FakeConnection(server), clock=clock
    )
    async with serving(trigger):
        await clock.advance(60.0)
    assert server.scheduled_times() == [iso("2024-01-01T10:05:00")]


async def test_tick_already_run_elsewhere_is_not_run_again() -> None:
    """A new agent (or a second one) offers a tick the old one ran: the key finds that run."""
    server = FakeServer()
    spec = cron()
    old_clock = ManualClock(at("2024-01-01T10:00:00.2"))
    old = CronTrigger(pipeline(spec), spec, FakeConnection(server), clock=old_clock)
    async with serving(old):
        pass
    assert server.scheduled_times() == [iso("2024-01-01T10:00:00")]
    new_clock = ManualClock(at("2024-01-01T10:00:12"))
    new = CronTrigger(pipeline(spec), spec, FakeConnection(server), clock=new_clock)
    async with serving(new):
        await new_clock.advance(50.0)
    assert server.scheduled_times() == [iso("2024-01-01T10:00:00"), iso("2024-01-01T10:01:00")]
    assert new.last_run == "hello.build.2"
    assert server.requests[1]["dedup_key"] == tick_dedup_key("tick", at("2024-01-01T10:00:00"))


async def test_two_agents_holding_the_pipeline_make_one_run_per_tick() -> None:
    clock = ManualClock(at("2024-01-01T10:00:30"))
    server = FakeServer()
    spec = cron()
    first = CronTrigger(pipeline(spec), spec, FakeConnection(server), clock=clock)
    second = CronTrigger(pipeline(spec), spec, FakeConnection(server), clock=clock)
    async with serving(first, second):
        await clock.advance(150.0)
    assert server.scheduled_times() == [
        iso("2024-01-01T10:00:00"),
        iso("2024-01-01T10:01:00"),
        iso("2024-01-01T10:02:00"),
        iso("2024-01-01T10:03:00"),
    ]
    assert len(server.requests) == 8


async def test_no_catch_up_for_ticks_before_the_pipeline_existed() -> None:
    clock = ManualClock(at("2024-01-01T10:07:30"))
    server = FakeServer()
    spec = cron("*/5 * * * *")
    trigger = CronTrigger(
        pipeline(spec, created="2024-01-01T10:06:00"), spec, FakeConnection(server), clock=clock
    )
    async with serving(trigger):
        await clock.advance(60.0)
    assert server.runs == []
    await_next = [state for _, state in server.states if state.get("nextFireTime")]
    assert await_next[-1]["nextFireTime"] == iso("2024-01-01T10:10:00")


async def test_starting_deadline_skips_a_late_catch_up_and_counts_it_missed() -> None:
    clock = ManualClock(at("2024-01-01T10:07:30"))
    server = FakeServer()
    spec = cron("*/5 * * * *", startingDeadline="1m")
    trigger = CronTrigger(pipeline(spec), spec, FakeConnection(server), clock=clock)
    async with serving(trigger):
        assert server.runs == []
        await clock.advance(160.0)  # 10:10:10: on time again
    assert server.scheduled_times() == [iso("2024-01-01T10:10:00")]
    assert trigger.missed_ticks == 1
    assert server.states[-1][0] == "hello.tick"
    assert server.states[-1][1]["missedTicks"] == 1
    assert server.states[-1][1]["lastFireTime"] == iso("2024-01-01T10:10:00")
    assert server.states[-1][1]["lastRun"] == "hello.build.1"
    assert server.states[-1][1]["nextFireTime"] == iso("2024-01-01T10:15:00")


async def test_catch_up_within_starting_deadline_runs() -> None:
    clock = ManualClock(at("2024-01-01T10:05:40"))
    server = FakeServer()
    spec = cron("*/5 * * * *", startingDeadline="1m")
    trigger = CronTrigger(pipeline(spec), spec, FakeConnection(server), clock=clock)
    async with serving(trigger):
        pass
    assert server.scheduled_times() == [iso("2024-01-01T10:05:00")]


async def test_a_late_wake_up_fires_only_the_latest_tick() -> None:
    clock = ManualClock(at("2024-01-01T10:00:30"))
    server = FakeServer()
    spec = cron()
    trigger = CronTrigger(
        pipeline(spec, created="2024-01-01T10:00:10"), spec, FakeConnection(server), clock=clock
    )
    async with serving(trigger):
        await clock.advance(300.0, step=300.0)  # the host slept five minutes
    assert server.scheduled_times() == [iso("2024-01-01T10:05:00")]
    assert trigger.missed_ticks == 4


@pytest.mark.parametrize("policy", ["Allow", "Forbid", "Replace"])
async def test_concurrency_policy_goes_with_every_request(policy: str) -> None:
    clock = ManualClock(at("2024-01-01T10:00:30"))
    server = FakeServer()
    spec = cron(concurrencyPolicy=policy)
    trigger = CronTrigger(
        pipeline(spec, created="2024-01-01T10:00:10"), spec, FakeConnection(server), clock=clock
    )
    async with serving(trigger):
        await clock.advance(150.0)  # ticks 10:01, 10:02, 10:03; no run ever finishes
    assert {request["concurrency_policy"] for request in server.requests} == {policy}
    if policy == "Allow":
        assert len(server.runs) == 3 and len(server.unfinished) == 3
    elif policy == "Forbid":
        # The first run never finished: the later ticks are skipped, nothing is created.
        assert len(server.runs) == 1 and trigger.last_run == "hello.build.1"
        assert [result.skipped is not None for result in trigger.fired] == [False, True, True]
    else:
        assert len(server.runs) == 3
        assert server.cancelled == ["hello.build.1", "hello.build.2"]


async def test_forbid_runs_again_once_the_previous_run_finished() -> None:
    clock = ManualClock(at("2024-01-01T10:00:30"))
    server = FakeServer()
    spec = cron(concurrencyPolicy="Forbid")
    trigger = CronTrigger(
        pipeline(spec, created="2024-01-01T10:00:10"), spec, FakeConnection(server), clock=clock
    )
    async with serving(trigger):
        await clock.advance(60.0)  # 10:01 runs
        await clock.advance(60.0)  # 10:02 skipped
        server.unfinished.clear()
        await clock.advance(60.0)  # 10:03 runs
    assert server.scheduled_times() == [iso("2024-01-01T10:01:00"), iso("2024-01-01T10:03:00")]


async def test_unreachable_server_is_retried_until_the_tick_deadline() -> None:
    clock = ManualClock(at("2024-01-01T10:00:50"))
    server = FakeServer()
    connection = FakeConnection(server)
    spec = cron()
    trigger = CronTrigger(
        pipeline(spec, created="2024-01-01T10:00:10"),
        spec,
        connection,
        clock=clock,
        options=FAST_RETRY,
    )
    async with serving(trigger):
        connection.offline = True
        await clock.advance(14.0)  # 10:01:04: the 10:01 tick is being retried
        assert server.runs == []
        connection.offline = False
        await clock.advance(2.0)
        assert server.scheduled_times() == [iso("2024-01-01T10:01:00")]
        # Offline for longer than a whole period: the 10:02 tick is given up at 10:03.
        connection.offline = True
        await clock.advance(120.0)  # until 10:03:06
        connection.offline = False
        await clock.advance(10.0)
    assert server.scheduled_times() == [iso("2024-01-01T10:01:00"), iso("2024-01-01T10:03:00")]
    assert trigger.missed_ticks == 1


async def test_suspended_trigger_fires_nothing() -> None:
    clock = ManualClock(at("2024-01-01T10:00:30"))
    server = FakeServer()
    spec = cron(suspend=True)
    trigger = CronTrigger(pipeline(spec), spec, FakeConnection(server), clock=clock)
    async with serving(trigger):
        await clock.advance(180.0)
    assert server.requests == []
    assert server.states == [("hello.tick", {"nextFireTime": None})]


async def test_timezone_schedule_fires_at_local_time() -> None:
    clock = ManualClock(at("2024-07-10T06:59:58"))
    server = FakeServer()
    spec = cron("0 9 * * *", timezone="Europe/Berlin", startingDeadline="1m")
    trigger = CronTrigger(pipeline(spec), spec, FakeConnection(server), clock=clock)
    async with serving(trigger):
        await clock.advance(5.0)
    assert server.scheduled_times() == [iso("2024-07-10T07:00:00")]


async def test_handler_serves_every_cron_trigger_and_ignores_webhooks() -> None:
    clock = ManualClock(at("2024-01-01T10:00:30"))
    server = FakeServer()
    minutely = TriggerSpec(name="minutely", type="cron", schedule="* * * * *")
    hourly = TriggerSpec(name="hourly", type="cron", schedule="@hourly")
    hook = TriggerSpec(name="push", type="webhook", secretEnv="SECRET")
    served = pipeline(minutely, hourly, hook, created="2024-01-01T10:00:10")
    handler = CronPipelineHandler(FakeConnection(server), clock=clock)
    assert [t.spec.name for t in handler.triggers_of(served)] == ["minutely", "hourly"]
    assigned = AssignedPipeline("hello.build", "uid", 1, served)
    task = asyncio.create_task(handler.run_pipeline(assigned))
    await settle()
    await clock.advance(3600.0, step=30.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    names = [run["trigger"]["name"] for run in server.runs]
    assert names.count("minutely") == 60 and names.count("hourly") == 1


async def test_handler_without_cron_triggers_returns() -> None:
    handler = CronPipelineHandler(FakeConnection(FakeServer()))
    hook = TriggerSpec(name="push", type="webhook", secretEnv="SECRET")
    await handler.run_pipeline(AssignedPipeline("hello.build", "uid", 1, pipeline(hook)))


async def test_schedule_override_replaces_every_schedule() -> None:
    clock = ManualClock(at("2024-01-01T10:00:00.5"))
    server = FakeServer()
    spec = cron("@daily")
    trigger = CronTrigger(
        pipeline(spec, created="2024-01-01T10:00:00.2"),
        spec,
        FakeConnection(server),
        clock=clock,
        options=CronOptions(schedule_override="* * * * * */2"),
    )
    async with serving(trigger):
        await clock.advance(6.0, step=0.5)
    assert server.scheduled_times() == [
        iso("2024-01-01T10:00:02"),
        iso("2024-01-01T10:00:04"),
        iso("2024-01-01T10:00:06"),
    ]
