"""The run dispatcher and the run history collector on the in-memory store."""

from __future__ import annotations

import pytest

from tests.unit.apiserver.world import LEASE_TTL, ServerWorld, eventually
from xene.api.errors import Stale
from xene.api.pipeline import Pipeline
from xene.api.run import PipelineRun, RunPhase, RunTrigger
from xene.apiserver.controllers.run_gc import PIPELINE_DELETED_REASON

MANUAL = RunTrigger(type="manual")


async def phase_and_agent(world: ServerWorld, run: str) -> tuple[RunPhase, str | None]:
    stored = await world.run(run)
    return stored.status.phase, stored.status.agent


async def test_a_pending_run_of_a_placed_pipeline_is_dispatched_with_its_start(
    world: ServerWorld,
) -> None:
    await world.create_pipeline("p")
    await world.runs.create_run("wf.p", trigger=MANUAL)  # not placed yet: no agent
    await world.connect("worker")
    await world.place("wf.p", "worker")
    await world.caught_up()

    await world.dispatcher.reconcile("wf.p.1")

    run = await world.run("wf.p.1")
    assert run.status.agent == "worker"
    assert [(a.number, a.agent) for a in run.status.attempts] == [(1, "worker")]
    (start,) = await world.store.commands.list("worker")
    assert (start.kind, start.run, start.attempt) == ("StartRun", "wf.p.1", 1)
    assert start.payload["pipeline"]["metadata"]["name"] == "wf.p"


async def test_a_run_waits_while_its_pipeline_has_no_ready_agent(world: ServerWorld) -> None:
    await world.create_pipeline("p")
    await world.place("wf.p", "absent")
    await world.runs.create_run("wf.p", trigger=MANUAL)
    await world.caught_up()
    before = world.memory.kv.revision

    await world.dispatcher.reconcile("wf.p.1")

    assert await phase_and_agent(world, "wf.p.1") == (RunPhase.PENDING, None)
    assert world.memory.kv.revision == before


async def test_a_cancel_requested_before_dispatch_ends_the_run(world: ServerWorld) -> None:
    await world.create_pipeline("p")
    await world.runs.create_run("wf.p", trigger=MANUAL)

    def ask(run: PipelineRun) -> PipelineRun:
        run.status.cancelRequested = True
        return run

    await world.store.mutate(PipelineRun, "wf.p.1", ask)
    await world.caught_up()
    await world.dispatcher.reconcile("wf.p.1")
    assert (await world.run("wf.p.1")).status.phase == RunPhase.CANCELLED


async def test_a_run_whose_agent_is_lost_goes_back_to_pending(world: ServerWorld) -> None:
    await world.connect("worker")
    await world.create_pipeline("p")
    await world.place("wf.p", "worker")
    await world.runs.create_run("wf.p", trigger=MANUAL)
    await world.pass_time(LEASE_TTL + 1)

    await world.dispatcher.reconcile("wf.p.1")

    run = await world.run("wf.p.1")
    assert (run.status.phase, run.status.agent) == (RunPhase.PENDING, None)
    assert run.status.attempts[-1].result == "Interrupted: agent worker lost"


async def test_a_lagging_cache_cannot_interrupt_a_run_of_a_live_agent(world: ServerWorld) -> None:
    await world.connect("worker")
    await world.create_pipeline("p")
    await world.place("wf.p", "worker")
    await world.runs.create_run("wf.p", trigger=MANUAL)
    await world.pass_time(LEASE_TTL + 1)
    # The agent is back, but this replica's cache has not heard of it yet.
    lease = await world.store.liveness.grant(LEASE_TTL)
    await world.store.liveness.put("worker", "s2", "replica-b", lease)

    with pytest.raises(Stale):
        await world.dispatcher.reconcile("wf.p.1")
    assert await phase_and_agent(world, "wf.p.1") == (RunPhase.PENDING, "worker")


async def test_run_whole_a_lost_agents_run_moves_to_another_agent(world: ServerWorld) -> None:
    world.run_controllers(world.scheduler, world.agent_status, world.dispatcher)
    first = await world.connect("first")
    await world.create_pipeline("p")

    async def placed_on() -> str | None:
        return (await world.store.get(Pipeline, "wf.p")).status.agent

    await eventually(lambda: _equals(placed_on(), "first"), what="wf.p on first")
    await world.runs.create_run("wf.p", trigger=MANUAL)
    await eventually(lambda: _equals(phase_and_agent(world, "wf.p.1"), (RunPhase.PENDING, "first")))

    second = await world.connect("second")
    for _ in range(3):  # first falls silent
        await world.pass_time(LEASE_TTL / 2)
        assert await second.heartbeat()
    assert first.ended.is_set()

    await eventually(
        lambda: _equals(phase_and_agent(world, "wf.p.1"), (RunPhase.PENDING, "second")),
        what="wf.p.1 to be dispatched to second",
    )
    run = await world.run("wf.p.1")
    assert [(a.number, a.agent) for a in run.status.attempts] == [(1, "first"), (2, "second")]
    assert [c.attempt for c in await world.store.commands.list("second")] == [2]
    assert await world.store.commands.list("first") == []


async def test_the_history_keeps_the_newest_finished_runs(world: ServerWorld) -> None:
    await world.create_pipeline("p")
    for number in range(1, 6):
        await world.runs.create_run("wf.p", trigger=MANUAL, dedup_key=f"k{number}")
        await world.logs.append_events(f"wf.p.{number}", [{"kind": "RunStarted"}])
    for number in range(1, 5):
        await world.runs.request_cancel(f"wf.p.{number}")  # wf.p.5 stays unfinished
    await world.caught_up()

    await world.run_gc.reconcile("wf.p")

    assert [r.metadata.name for r in await world.runs.list_runs("wf.p")] == [
        "wf.p.2",
        "wf.p.3",
        "wf.p.4",
        "wf.p.5",
    ]
    assert await world.store.runs.duplicate_of("wf.p", "k1") is None
    assert await world.store.runs.duplicate_of("wf.p", "k2") == "wf.p.2"
    assert not (world.logs.root / "wf.p.1").exists()
    assert (world.logs.root / "wf.p.2").exists()


async def test_runs_of_a_deleted_pipeline_are_cancelled(world: ServerWorld) -> None:
    await world.create_pipeline("p")
    await world.runs.create_run("wf.p", trigger=MANUAL)
    await world.store.delete(Pipeline, "wf.p")
    await world.caught_up()

    await world.run_gc.reconcile("wf.p")

    run = await world.run("wf.p.1")
    assert run.status.phase == RunPhase.CANCELLED
    assert run.status.message == PIPELINE_DELETED_REASON


async def _equals(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]
