"""RunService against real etcd: numbering, idempotency keys, concurrency policies, cancel."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.runs.conftest import create_pipeline, schedule
from xene.api.errors import Conflict, Invalid, NotFound
from xene.api.pipeline import Pipeline
from xene.api.run import PipelineRun, RunPhase, RunTrigger
from xene.apiserver.services.runs import RunService
from xene.store.objects import ObjectStore

MANUAL = RunTrigger(type="manual", user="ann")


async def test_concurrent_creations_are_numbered_without_gaps_or_duplicates(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    created = await asyncio.gather(
        *(runs.create_run("wf.p", trigger=MANUAL, parameters={"i": str(i)}) for i in range(20))
    )
    numbers = sorted(c.run.spec.number for c in created if c.run is not None)
    assert numbers == list(range(1, 21))
    assert all(c.created for c in created)

    stored = await runs.list_runs("wf.p")
    assert [r.metadata.name for r in stored] == [f"wf.p.{n}" for n in range(1, 21)]
    first = stored[0]
    assert first.status.phase == RunPhase.PENDING
    assert first.spec.workflow == "wf" and first.spec.pipeline == "p"
    assert first.spec.pipelineGeneration == 1
    assert first.metadata.labels == {
        "xene.dev/workflow": "wf",
        "xene.dev/pipeline": "wf.p",
        "xene.dev/run-number": "1",
    }
    assert first.spec.trigger.user == "ann"


async def test_numbers_are_per_pipeline(etcd_store: ObjectStore, runs: RunService) -> None:
    await create_pipeline(etcd_store, "a")
    await create_pipeline(etcd_store, "b")
    await runs.create_run("wf.a", trigger=MANUAL)
    second = await runs.create_run("wf.a", trigger=MANUAL)
    other = await runs.create_run("wf.b", trigger=MANUAL)
    assert second.run is not None and second.run.metadata.name == "wf.a.2"
    assert other.run is not None and other.run.metadata.name == "wf.b.1"


async def test_a_repeated_dedup_key_returns_the_first_run(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    tick = RunTrigger(type="cron", name="nightly")
    results = await asyncio.gather(
        *(runs.create_run("wf.p", trigger=tick, dedup_key="tick-1") for _ in range(5))
    )
    assert sum(r.created for r in results) == 1
    assert {r.run.metadata.name for r in results if r.run is not None} == {"wf.p.1"}
    assert await etcd_store.runs.duplicate_of("wf.p", "tick-1") == "wf.p.1"
    other = await runs.create_run("wf.p", trigger=tick, dedup_key="tick-2")
    assert other.created and other.run is not None and other.run.spec.number == 2


async def test_unknown_pipeline_and_bad_arguments_are_refused(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    with pytest.raises(NotFound, match=r"wf\.nope"):
        await runs.create_run("wf.nope", trigger=MANUAL)
    await create_pipeline(etcd_store, "p")
    with pytest.raises(Invalid, match="Sometimes"):
        await runs.create_run("wf.p", trigger=MANUAL, concurrency_policy="Sometimes")


async def test_forbid_skips_while_a_run_is_unfinished(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    first = await runs.create_run("wf.p", trigger=MANUAL, concurrency_policy="Forbid")
    assert first.created
    skipped = await runs.create_run("wf.p", trigger=MANUAL, concurrency_policy="Forbid")
    assert skipped.run is None and not skipped.created
    assert skipped.skipped is not None and "wf.p.1" in skipped.skipped
    await runs.request_cancel("wf.p.1")
    again = await runs.create_run("wf.p", trigger=MANUAL, concurrency_policy="Forbid")
    assert again.run is not None and again.run.spec.number == 2


async def test_replace_cancels_the_unfinished_runs_first(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    await runs.create_run("wf.p", trigger=MANUAL)
    replacing = await runs.create_run("wf.p", trigger=MANUAL, concurrency_policy="Replace")
    assert replacing.run is not None and replacing.run.spec.number == 2
    old = await etcd_store.get(PipelineRun, "wf.p.1")
    assert old.status.phase == RunPhase.CANCELLED
    assert "Replace" in (old.status.message or "")


async def test_cancel_of_a_pending_run_is_immediate_and_of_a_finished_one_a_no_op(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    await runs.create_run("wf.p", trigger=MANUAL)
    cancelled = await runs.request_cancel("wf.p.1", "changed my mind")
    assert cancelled.status.phase == RunPhase.CANCELLED
    assert cancelled.status.finishedAt is not None
    assert cancelled.status.message == "changed my mind"
    again = await runs.request_cancel("wf.p.1")
    assert again.metadata.resourceVersion == cancelled.metadata.resourceVersion
    with pytest.raises(NotFound):
        await runs.request_cancel("wf.p.99")


async def test_a_run_of_a_pipeline_on_a_live_agent_is_dispatched_as_it_is_created(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "live")
    await create_pipeline(etcd_store, "gone")
    await schedule(etcd_store, "wf.live", "worker")
    await schedule(etcd_store, "wf.gone", "departed")
    lease = await etcd_store.liveness.grant(30)
    await etcd_store.liveness.put("worker", "session", "replica", lease)

    live = await runs.create_run("wf.live", trigger=RunTrigger(type="manual"))
    assert live.run is not None and live.run.status.agent == "worker"
    assert [(a.number, a.agent) for a in live.run.status.attempts] == [(1, "worker")]
    stored = await etcd_store.get(PipelineRun, "wf.live.1")
    assert stored.status.agent == "worker" and stored.status.phase is RunPhase.PENDING
    started = await etcd_store.commands.list("worker")
    assert [(c.kind, c.run, c.payload["attempt"]) for c in started] == [
        ("StartRun", "wf.live.1", 1)
    ]

    # An agent without a liveness key gets nothing: the dispatcher waits for a live placement.
    waiting = await runs.create_run("wf.gone", trigger=RunTrigger(type="manual"))
    assert waiting.run is not None and waiting.run.status.agent is None
    assert waiting.run.status.attempts == []
    assert await etcd_store.commands.list("departed") == []


async def test_rerun_repeats_parameters_environment_and_trigger(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    hook = RunTrigger(type="webhook", name="push", deliveryId="d-1", payload='{"ref": "main"}')
    first = await runs.create_run(
        "wf.p", trigger=hook, parameters={"A": "1"}, env={"XENE_REF": "main"}, dedup_key="k"
    )
    assert first.run is not None
    again = await runs.rerun("wf.p.1")
    assert again.metadata.name == "wf.p.2"
    assert again.spec.parameters == {"A": "1"}
    assert again.spec.env == {"XENE_REF": "main"}
    assert again.spec.trigger == hook.model_copy(update={"rerunOf": "wf.p.1"})
    # A rerun is new work, never the run an idempotency key already found.
    assert "xene.dev/dedup-key" not in again.metadata.annotations
    with pytest.raises(NotFound, match=r"wf\.p\.9"):
        await runs.rerun("wf.p.9")
    await etcd_store.delete(Pipeline, "wf.p")
    with pytest.raises(NotFound, match=r"its pipeline wf\.p no longer exists"):
        await runs.rerun("wf.p.1")
    assert len(await runs.list_runs("wf.p")) == 2


async def test_delete_takes_a_run_no_agent_holds_and_refuses_an_assigned_one(
    etcd_store: ObjectStore, runs: RunService
) -> None:
    await create_pipeline(etcd_store, "p")
    await runs.create_run("wf.p", trigger=MANUAL, dedup_key="tick-1")
    await runs.create_run("wf.p", trigger=MANUAL)

    def assign(run: PipelineRun) -> PipelineRun:
        run.status.agent = "a1"
        run.status.phase = RunPhase.RUNNING
        return run

    await etcd_store.mutate(PipelineRun, "wf.p.2", assign)
    with pytest.raises(Conflict, match=r"cancel it first \(xenectl cancel wf.p.2\)"):
        await runs.delete("wf.p.2")
    assert (await runs.get("wf.p.2")).status.phase == RunPhase.RUNNING

    deleted = await runs.delete("wf.p.1")  # Pending, never dispatched
    assert deleted.metadata.name == "wf.p.1"
    with pytest.raises(NotFound):
        await runs.get("wf.p.1")
    # Its idempotency key went with it: the same key makes a new run.
    again = await runs.create_run("wf.p", trigger=MANUAL, dedup_key="tick-1")
    assert again.created and again.run is not None and again.run.spec.number == 3
