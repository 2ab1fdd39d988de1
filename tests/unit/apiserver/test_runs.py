"""Runs on the in-memory store: numbering, idempotency keys, concurrency policies, dispatch at
creation, cancellation and interruption with their commands, agents reconnecting, and the
operator's verbs: rerun, delete, and why a run waits."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.apiserver.world import ServerWorld
from xene.api.errors import Conflict, Invalid, NotFound
from xene.api.pipeline import Pipeline
from xene.api.run import PipelineRun, RunPhase, RunTrigger
from xene.apiserver.services.runs import DEDUP_ANNOTATION

MANUAL = RunTrigger(type="manual")


async def kinds(world: ServerWorld, agent: str) -> list[tuple[str, str, int]]:
    return [(c.kind, c.run, c.attempt) for c in await world.store.commands.list(agent)]


async def test_runs_are_numbered_without_gaps_per_pipeline(world: ServerWorld) -> None:
    await world.create_pipeline("a")
    await world.create_pipeline("b")
    made = await asyncio.gather(*(world.runs.create_run("wf.a", trigger=MANUAL) for _ in range(5)))
    other = await world.runs.create_run("wf.b", trigger=MANUAL)
    assert sorted(m.run.spec.number for m in made if m.run) == [1, 2, 3, 4, 5]
    assert other.run is not None and other.run.metadata.name == "wf.b.1"
    pipeline = await world.store.get(Pipeline, "wf.a")
    assert pipeline.status.lastRun == 5
    assert [r.spec.number for r in await world.runs.list_runs("wf.a")] == [1, 2, 3, 4, 5]


async def test_a_repeated_idempotency_key_finds_the_first_run(world: ServerWorld) -> None:
    await world.create_pipeline("p")
    tick = RunTrigger(type="cron", name="nightly")
    results = await asyncio.gather(
        *(world.runs.create_run("wf.p", trigger=tick, dedup_key="tick-1") for _ in range(4))
    )
    assert sum(r.created for r in results) == 1
    assert {r.run.metadata.name for r in results if r.run} == {"wf.p.1"}


async def test_concurrency_policies_forbid_or_replace_unfinished_runs(world: ServerWorld) -> None:
    await world.create_pipeline("p")
    await world.runs.create_run("wf.p", trigger=MANUAL)
    skipped = await world.runs.create_run("wf.p", trigger=MANUAL, concurrency_policy="Forbid")
    assert skipped.run is None and skipped.skipped and "wf.p.1" in skipped.skipped
    replaced = await world.runs.create_run("wf.p", trigger=MANUAL, concurrency_policy="Replace")
    assert replaced.run is not None and replaced.run.spec.number == 2
    assert (await world.run("wf.p.1")).status.phase == RunPhase.CANCELLED


async def test_bad_requests_are_refused_and_write_nothing(world: ServerWorld) -> None:
    await world.create_pipeline("p")
    before = world.memory.kv.revision
    with pytest.raises(Invalid):
        await world.runs.create_run("wf.p", trigger=MANUAL, concurrency_policy="Sometimes")
    with pytest.raises(Invalid):
        await world.runs.create_run("wf.p", trigger=MANUAL, dedup_key="")
    with pytest.raises(NotFound):
        await world.runs.create_run("wf.missing", trigger=MANUAL)
    assert world.memory.kv.revision == before


async def test_a_run_on_a_live_agent_starts_in_the_transaction_that_makes_it(
    world: ServerWorld,
) -> None:
    await world.connect("worker")
    await world.create_pipeline("live")
    await world.create_pipeline("gone")
    await world.place("wf.live", "worker")
    await world.place("wf.gone", "departed")

    live = await world.runs.create_run("wf.live", trigger=MANUAL)
    waiting = await world.runs.create_run("wf.gone", trigger=MANUAL)

    assert live.run is not None and live.run.status.agent == "worker"
    assert [(a.number, a.agent) for a in live.run.status.attempts] == [(1, "worker")]
    assert await kinds(world, "worker") == [("StartRun", "wf.live.1", 1)]
    (start,) = await world.store.commands.list("worker")
    assert start.payload["pipeline"]["metadata"]["name"] == "wf.live"
    assert waiting.run is not None and waiting.run.status.agent is None
    assert await world.store.commands.list("departed") == []


async def test_cancelling_ends_a_pending_run_and_asks_the_agent_of_an_assigned_one(
    world: ServerWorld,
) -> None:
    await world.connect("worker")
    await world.create_pipeline("p")
    await world.create_pipeline("q")
    await world.place("wf.q", "worker")
    await world.runs.create_run("wf.p", trigger=MANUAL)
    await world.runs.create_run("wf.q", trigger=MANUAL)

    pending = await world.runs.request_cancel("wf.p.1")
    assert pending.status.phase == RunPhase.CANCELLED
    assigned = await world.runs.request_cancel("wf.q.1", "stop it")
    assert assigned.status.phase == RunPhase.PENDING and assigned.status.cancelRequested
    assert await kinds(world, "worker") == [
        ("StartRun", "wf.q.1", 1),
        ("CancelRun", "wf.q.1", 1),
    ]
    again = await world.runs.request_cancel("wf.q.1")
    assert again.metadata.resourceVersion == assigned.metadata.resourceVersion


async def test_an_interrupted_run_is_pending_again_and_its_start_is_withdrawn(
    world: ServerWorld,
) -> None:
    await world.connect("worker")
    await world.create_pipeline("p")
    await world.place("wf.p", "worker")
    await world.runs.create_run("wf.p", trigger=MANUAL)

    run = await world.runs.interrupt("wf.p.1", "worker", "agent worker lost")

    assert run is not None and run.status.phase == RunPhase.PENDING
    assert run.status.agent is None
    assert run.status.attempts[-1].result == "Interrupted: agent worker lost"
    assert await world.store.commands.list("worker") == []
    assert await world.runs.interrupt("wf.p.1", "worker", "again") is None


async def test_a_reconnecting_agent_loses_runs_it_forgot_and_stops_strays(
    world: ServerWorld,
) -> None:
    await world.connect("worker")
    await world.create_pipeline("p")
    await world.place("wf.p", "worker")
    await world.runs.create_run("wf.p", trigger=MANUAL)  # queued StartRun: not forgotten
    await world.runs.create_run("wf.p", trigger=MANUAL)
    for command in await world.store.commands.list("worker"):
        await world.store.commands.acknowledge("worker", command.id)

    # It runs wf.p.2 but not wf.p.1, and an attempt of a run that is not its own.
    await world.runs.reconcile_agent_runs("worker", [("wf.p.2", 1), ("wf.other.1", 3)])

    assert (await world.run("wf.p.1")).status.phase == RunPhase.PENDING
    assert (await world.run("wf.p.1")).status.agent is None
    assert (await world.run("wf.p.2")).status.agent == "worker"
    assert await kinds(world, "worker") == [("CancelRun", "wf.other.1", 3)]


async def test_deleting_a_run_frees_its_key_only_if_it_did_not_change(world: ServerWorld) -> None:
    await world.create_pipeline("p")
    made = await world.runs.create_run("wf.p", trigger=MANUAL, dedup_key="k")
    assert made.run is not None
    await world.runs.request_cancel("wf.p.1")
    assert not await world.runs.delete_run(made.run)
    assert await world.runs.delete_run(await world.run("wf.p.1"))
    again = await world.runs.create_run("wf.p", trigger=MANUAL, dedup_key="k")
    assert again.created and again.run is not None and again.run.spec.number == 2


# -- the operator's verbs -----------------------------------------------------------------------


async def test_a_rerun_repeats_parameters_environment_and_trigger_of_the_run(
    world: ServerWorld,
) -> None:
    await world.create_pipeline("p")
    hook = RunTrigger(type="webhook", name="push", deliveryId="d-1", payload='{"ref": "main"}')
    await world.runs.create_run(
        "wf.p", trigger=hook, parameters={"A": "1"}, env={"XENE_REF": "main"}, dedup_key="d-1"
    )

    again = await world.runs.rerun("wf.p.1")

    assert again.metadata.name == "wf.p.2"
    assert (again.spec.parameters, again.spec.env) == ({"A": "1"}, {"XENE_REF": "main"})
    assert again.spec.trigger == hook.model_copy(update={"rerunOf": "wf.p.1"})
    # New work, never the run the first delivery's idempotency key found.
    assert DEDUP_ANNOTATION not in again.metadata.annotations
    assert again.status.phase == RunPhase.PENDING
    assert (await world.store.get(Pipeline, "wf.p")).status.lastRun == 2


async def test_a_rerun_of_a_pipeline_on_a_live_agent_starts_at_once(world: ServerWorld) -> None:
    await world.connect("worker")
    await world.create_pipeline("p")
    await world.place("wf.p", "worker")
    await world.runs.create_run("wf.p", trigger=MANUAL)

    again = await world.runs.rerun("wf.p.1")

    assert again.status.agent == "worker"
    assert await kinds(world, "worker") == [("StartRun", "wf.p.1", 1), ("StartRun", "wf.p.2", 1)]


async def test_a_rerun_of_a_missing_run_or_pipeline_names_it_and_writes_nothing(
    world: ServerWorld,
) -> None:
    await world.create_pipeline("p")
    await world.runs.create_run("wf.p", trigger=MANUAL)
    await world.store.delete(Pipeline, "wf.p")
    before = world.memory.kv.revision

    with pytest.raises(NotFound, match=r"wf\.p\.9"):
        await world.runs.rerun("wf.p.9")
    with pytest.raises(NotFound, match=r"cannot rerun wf\.p\.1: its pipeline wf\.p no longer"):
        await world.runs.rerun("wf.p.1")

    assert world.memory.kv.revision == before


async def test_delete_refuses_a_run_an_agent_holds_and_takes_one_none_does(
    world: ServerWorld,
) -> None:
    await world.connect("worker")
    await world.create_pipeline("p")
    await world.runs.create_run("wf.p", trigger=MANUAL, dedup_key="tick-1")  # not placed yet
    await world.place("wf.p", "worker")
    held = await world.runs.create_run("wf.p", trigger=MANUAL)  # dispatched as it is made
    assert held.run is not None and held.run.status.agent == "worker"
    before = world.memory.kv.revision

    with pytest.raises(Conflict, match=r"on agent worker: cancel it first \(xenectl cancel wf"):
        await world.runs.delete("wf.p.2")
    assert world.memory.kv.revision == before

    deleted = await world.runs.delete("wf.p.1")
    assert deleted.metadata.name == "wf.p.1"
    with pytest.raises(NotFound):
        await world.run("wf.p.1")
    # Its idempotency key went with it: the same key makes a new run.
    again = await world.runs.create_run("wf.p", trigger=MANUAL, dedup_key="tick-1")
    assert again.created and again.run is not None and again.run.spec.number == 3
    with pytest.raises(NotFound):
        await world.runs.delete("wf.p.1")


async def test_a_finished_run_is_deleted_though_its_agent_is_still_named(
    world: ServerWorld,
) -> None:
    await world.connect("worker")
    await world.create_pipeline("p")
    await world.place("wf.p", "worker")
    await world.runs.create_run("wf.p", trigger=MANUAL)

    def succeed(run: PipelineRun) -> PipelineRun:
        run.status.phase = RunPhase.SUCCEEDED
        return run

    await world.store.mutate(PipelineRun, "wf.p.1", succeed)

    assert (await world.runs.delete("wf.p.1")).status.agent == "worker"
    assert await world.runs.list_runs("wf.p") == []


async def test_why_a_run_waits_names_the_pipeline_no_agent_can_take(world: ServerWorld) -> None:
    await world.create_pipeline("p", os="plan9")
    await world.caught_up()
    await world.scheduler.reconcile("wf.p")
    made = await world.runs.create_run("wf.p", trigger=MANUAL)
    assert made.run is not None

    assert await world.runs.why_waiting(made.run) == (
        "pipeline wf.p is NotScheduled (NoMatchingAgent): "
        "no Ready agent matches agentSelector {os: plan9}"
    )

    # Once an agent can take it, the run only waits for the dispatcher.
    await world.connect("plan9-1", os="plan9")
    await world.scheduler.reconcile("wf.p")
    assert await world.runs.why_waiting(await world.run("wf.p.1")) is None

    await world.store.delete(Pipeline, "wf.p")
    assert await world.runs.why_waiting(made.run) == "pipeline wf.p no longer exists"
    cancelled = await world.runs.request_cancel("wf.p.1")
    assert await world.runs.why_waiting(cancelled) is None  # finished: it waits for nothing
