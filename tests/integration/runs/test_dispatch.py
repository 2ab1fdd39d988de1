"""Runs through the real gRPC stream: dispatch, reports and acks, requeue on agent loss,
reconnects, cancel, run requests and trigger states from agents, history GC."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest

from tests.integration.runs.conftest import (
    LEASE_TTL,
    TOKEN,
    RunCluster,
    create_pipeline,
    eventually,
)
from tests.integration.runs.stream_agent import StreamAgent
from xene.api.errors import NotFound
from xene.api.meta import ObjectMeta
from xene.api.pipeline import Pipeline
from xene.api.plan import RunPlan, compile_plan
from xene.api.run import PipelineRun, RunPhase, RunTrigger
from xene.api.trigger import Trigger, TriggerObjectSpec

MANUAL = RunTrigger(type="manual")


@pytest.fixture
async def connect(run_cluster: RunCluster) -> AsyncIterator[Callable[..., StreamAgent]]:
    """`await connect(name, runs=[...])` opens a StreamAgent; all are closed after the test."""
    opened: list[StreamAgent] = []

    async def open_agent(name: str, runs: list[tuple[str, int]] | None = None) -> StreamAgent:
        agent = await StreamAgent(run_cluster.address, name, TOKEN).connect(runs)
        opened.append(agent)
        return agent

    yield open_agent  # type: ignore[misc]
    for agent in opened:
        await agent.close()


async def run_of(cluster: RunCluster, name: str) -> PipelineRun:
    return await cluster.store.get(PipelineRun, name)


async def started_on(cluster: RunCluster, agent: StreamAgent, run: str, attempt: int):
    def received():
        return [
            c
            for c in agent.commands("start_run")
            if c.start_run.run == run and c.start_run.attempt == attempt
        ]

    commands = await eventually(received, what=f"StartRun {run} attempt {attempt} on {agent.name}")
    return commands[0]


async def placed_on(cluster: RunCluster, pipeline: str) -> str | None:
    stored = await cluster.store.get(Pipeline, pipeline)
    return stored.status.agent


async def test_a_run_is_dispatched_reported_and_acked_once(
    run_cluster: RunCluster, connect: Callable
) -> None:
    agent = await connect("a1")
    await create_pipeline(run_cluster.store, "p")
    await eventually(lambda: placed_on(run_cluster, "wf.p"), what="wf.p to be scheduled")
    await run_cluster.runs.create_run("wf.p", trigger=MANUAL, parameters={"x": "1"})

    command = await started_on(run_cluster, agent, "wf.p.1", 1)
    assert json.loads(command.start_run.run_json)["spec"]["parameters"] == {"x": "1"}
    assert json.loads(command.start_run.pipeline_json)["metadata"]["name"] == "wf.p"
    # The server compiled the plan the agent executes: durations in seconds, names filled.
    plan = RunPlan.model_validate_json(command.start_run.plan_json)
    assert plan == compile_plan(Pipeline.model_validate_json(command.start_run.pipeline_json).spec)
    agent.ack(command.id)
    run = await run_of(run_cluster, "wf.p.1")
    assert run.status.agent == "a1"
    assert [(a.number, a.agent) for a in run.status.attempts] == [(1, "a1")]

    running = {"phase": "Running", "startedAt": "2026-01-01T00:00:00Z", "tasks": {}}
    agent.run_update("wf.p.1", 1, 1, running, [{"type": "RunStarted"}])
    agent.log_chunk("wf.p.1", 1, 2, "main", "hello", "hello", "world")
    done = {
        "phase": "Succeeded",
        "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": "2026-01-01T00:00:05Z",
        "tasks": {
            "main": {
                "name": "main",
                "phase": "Succeeded",
                "steps": [{"name": "hello", "state": "Success", "exitCode": 0}],
            }
        },
        "extra": "ignored",
    }
    agent.run_update("wf.p.1", 1, 3, done, [{"type": "RunSucceeded"}])
    await eventually(lambda: agent.acked_seqs() == [1, 2, 3], what="acks of seqs 1, 2, 3")

    # Replays after a reconnect: acknowledged again, applied once.
    agent.log_chunk("wf.p.1", 1, 2, "main", "hello", "hello", "world")
    agent.run_update("wf.p.1", 1, 1, running, [{"type": "RunStarted"}])
    await eventually(lambda: len(agent.acked_seqs()) == 5, what="acks of the replays")

    run = await run_of(run_cluster, "wf.p.1")
    assert run.status.phase == RunPhase.SUCCEEDED
    assert run.status.tasks["main"].steps[0].exitCode == 0
    assert run.status.attempts[0].result == "Succeeded"
    assert run.status.attempts[0].finishedAt is not None
    assert [r.line for r in await run_cluster.logs.read("wf.p.1")] == ["hello", "world"]
    events = await run_cluster.logs.read_events("wf.p.1")
    assert [e["type"] for e in events] == ["RunStarted", "RunSucceeded"]


async def test_runs_of_a_lost_agent_go_back_to_pending_and_run_on_the_new_agent(
    run_cluster: RunCluster, connect: Callable
) -> None:
    first = await connect("first")
    await create_pipeline(run_cluster.store, "p")
    await eventually(lambda: placed_on(run_cluster, "wf.p"), what="wf.p to be scheduled")
    second = await connect("second")
    await run_cluster.runs.create_run("wf.p", trigger=MANUAL)
    command = await started_on(run_cluster, first, "wf.p.1", 1)
    first.ack(command.id)
    first.run_update("wf.p.1", 1, 1, {"phase": "Running"})
    await eventually(lambda: first.acked_seqs() == [1], what="the Running report")

    await first.close()  # a crash: no goodbye, the lease runs out
    moved = await started_on(run_cluster, second, "wf.p.1", 2)
    second.ack(moved.id)
    run = await run_of(run_cluster, "wf.p.1")
    assert run.status.agent == "second"
    assert run.status.phase == RunPhase.PENDING
    assert [a.number for a in run.status.attempts] == [1, 2]
    assert run.status.attempts[0].result == "Interrupted: agent first lost"

    # A late report of the old attempt changes nothing.
    second.run_update("wf.p.1", 1, 1, {"phase": "Failed"})
    second.run_update("wf.p.1", 2, 2, {"phase": "Running"})
    await eventually(lambda: second.acked_seqs() == [1, 2], what="both reports acked")
    assert (await run_of(run_cluster, "wf.p.1")).status.phase == RunPhase.RUNNING

    # The lost agent comes back still running its old attempt: it is told to stop it.
    back = await connect("first", runs=[("wf.p.1", 1)])
    stop = await eventually(lambda: back.commands("cancel_run"), what="CancelRun of attempt 1")
    assert (stop[0].cancel_run.run, stop[0].cancel_run.attempt) == ("wf.p.1", 1)
    assert (await run_of(run_cluster, "wf.p.1")).status.agent == "second"


async def test_a_reconnect_without_the_run_interrupts_it_unless_its_start_is_queued(
    run_cluster: RunCluster, connect: Callable
) -> None:
    agent = await connect("solo")
    await create_pipeline(run_cluster.store, "p")
    await eventually(lambda: placed_on(run_cluster, "wf.p"), what="wf.p to be scheduled")
    await run_cluster.runs.create_run("wf.p", trigger=MANUAL)
    await started_on(run_cluster, agent, "wf.p.1", 1)
    await agent.close()  # never acknowledged: the StartRun stays queued

    again = await connect("solo", runs=[])
    redelivered = await started_on(run_cluster, again, "wf.p.1", 1)
    again.ack(redelivered.id)

    async def queue_empty() -> bool:
        return not await run_cluster.store.commands.list("solo")

    await eventually(queue_empty, what="the StartRun to be acknowledged")
    assert len((await run_of(run_cluster, "wf.p.1")).status.attempts) == 1

    await again.close()  # restarted: the new process does not run it any more
    third = await connect("solo", runs=[])
    await started_on(run_cluster, third, "wf.p.1", 2)
    run = await run_of(run_cluster, "wf.p.1")
    assert run.status.attempts[0].result == "Interrupted: agent solo reconnected without this run"


async def test_cancel_of_a_running_run_reaches_its_agent(
    run_cluster: RunCluster, connect: Callable
) -> None:
    agent = await connect("a1")
    await create_pipeline(run_cluster.store, "p")
    await eventually(lambda: placed_on(run_cluster, "wf.p"), what="wf.p to be scheduled")
    await run_cluster.runs.create_run("wf.p", trigger=MANUAL)
    agent.ack((await started_on(run_cluster, agent, "wf.p.1", 1)).id)
    agent.run_update("wf.p.1", 1, 1, {"phase": "Running"})
    await eventually(lambda: agent.acked_seqs() == [1], what="the Running report")

    requested = await run_cluster.runs.request_cancel("wf.p.1", "stop it")
    assert requested.status.cancelRequested and requested.status.phase == RunPhase.RUNNING
    cancel = await eventually(lambda: agent.commands("cancel_run"), what="CancelRun")
    assert (cancel[0].cancel_run.reason, cancel[0].cancel_run.attempt) == ("stop it", 1)
    agent.run_update("wf.p.1", 1, 2, {"phase": "Cancelled", "message": "stop it"})
    await eventually(lambda: agent.acked_seqs() == [1, 2], what="the Cancelled report")
    run = await run_of(run_cluster, "wf.p.1")
    assert run.status.phase == RunPhase.CANCELLED
    assert run.status.attempts[0].result == "Cancelled"


async def test_a_run_its_agent_refuses_to_start_fails_with_the_reason(
    run_cluster: RunCluster, connect: Callable
) -> None:
    agent = await connect("picky")
    await create_pipeline(run_cluster.store, "p")
    await eventually(lambda: placed_on(run_cluster, "wf.p"), what="wf.p to be scheduled")
    await run_cluster.runs.create_run("wf.p", trigger=MANUAL)
    command = await started_on(run_cluster, agent, "wf.p.1", 1)
    agent.ack(command.id, error="executor docker is not available here")

    async def failed() -> PipelineRun | None:
        run = await run_of(run_cluster, "wf.p.1")
        return run if run.status.phase == RunPhase.FAILED else None

    run = await eventually(failed, what="the refused run to fail")
    assert "executor docker is not available here" in (run.status.message or "")
    assert run.status.attempts[0].result is not None


async def test_agents_request_runs_and_report_trigger_states(
    run_cluster: RunCluster, connect: Callable
) -> None:
    from xene.proto.xene.v1 import agent_pb2

    agent = await connect("cron-host")
    await create_pipeline(run_cluster.store, "p")
    await create_pipeline(run_cluster.store, "q", missing="label")  # never scheduled here
    await eventually(lambda: placed_on(run_cluster, "wf.p"), what="wf.p to be scheduled")
    trigger = json.dumps({"type": "cron", "name": "nightly"}).encode()
    for request_id, pipeline in (("r1", "wf.p"), ("r2", "wf.p"), ("r3", "wf.q")):
        request = agent_pb2.CreateRunRequest(
            request_id=request_id, pipeline=pipeline, trigger_json=trigger, dedup_key="t1"
        )
        agent.send(agent_pb2.AgentMessage(create_run=request))
    responses = await eventually(lambda: len(agent.responses()) == 3 and agent.responses())
    by_id = {r.request_id: r for r in responses}
    assert (by_id["r1"].run, by_id["r1"].number, by_id["r1"].created) == ("wf.p.1", 1, True)
    assert (by_id["r2"].run, by_id["r2"].created) == ("wf.p.1", False)
    assert "not scheduled on agent 'cron-host'" in by_id["r3"].error
    assert (await run_of(run_cluster, "wf.p.1")).spec.trigger.name == "nightly"

    await run_cluster.store.create(
        Trigger(
            metadata=ObjectMeta(name="wf.nightly"),
            spec=TriggerObjectSpec(
                name="nightly", type="cron", schedule="0 3 * * *", workflow="wf", pipelines=["wf.p"]
            ),
        )
    )
    state = agent_pb2.TriggerState(
        trigger="wf.nightly",
        status_json=json.dumps({"lastRun": "wf.p.1", "missedTicks": 2, "bogus": 1}).encode(),
    )
    agent.send(agent_pb2.AgentMessage(trigger_state=state))

    async def recorded() -> bool:
        status = (await run_cluster.store.get(Trigger, "wf.nightly")).status
        return status.lastRun == "wf.p.1" and status.missedTicks == 2

    await eventually(recorded, what="the trigger state")


async def test_history_is_bounded_and_runs_of_a_deleted_pipeline_are_cancelled(
    run_cluster: RunCluster,
) -> None:
    store = run_cluster.store
    await create_pipeline(store, "p")  # no agent: runs stay Pending until finished by hand
    for number in range(1, 6):
        await run_cluster.runs.create_run("wf.p", trigger=MANUAL, dedup_key=f"k{number}")
        await run_cluster.logs.append_events(f"wf.p.{number}", [{"type": "RunStarted"}])
    for number in range(1, 6):
        await run_cluster.runs.request_cancel(f"wf.p.{number}")

    async def kept() -> list[str]:
        return [r.metadata.name for r in await run_cluster.runs.list_runs("wf.p")]

    await eventually(lambda: _equals(kept, ["wf.p.3", "wf.p.4", "wf.p.5"]), what="GC to run")
    assert await store.runs.duplicate_of("wf.p", "k1") is None
    assert await store.runs.duplicate_of("wf.p", "k5") == "wf.p.5"
    assert not (run_cluster.logs.root / "wf.p.1").exists()
    assert (run_cluster.logs.root / "wf.p.5").exists()

    await run_cluster.runs.create_run("wf.p", trigger=MANUAL)
    await store.delete(Pipeline, "wf.p")

    async def cancelled() -> bool:
        try:
            run = await run_of(run_cluster, "wf.p.6")
        except NotFound:
            return False
        return run.status.phase == RunPhase.CANCELLED

    await eventually(cancelled, what="the run of the deleted pipeline to be cancelled")
    assert "deleted" in ((await run_of(run_cluster, "wf.p.6")).status.message or "")


async def _equals(read: Callable, expected: list[str]) -> bool:
    return await read() == expected


async def test_a_run_waits_for_an_agent_and_a_cancel_while_its_agent_is_lost_ends_it(
    run_cluster: RunCluster, connect: Callable
) -> None:
    await create_pipeline(run_cluster.store, "p")
    await run_cluster.runs.create_run("wf.p", trigger=MANUAL)
    late = await connect("late")
    command = await started_on(run_cluster, late, "wf.p.1", 1)
    late.ack(command.id)
    await late.close()  # lost before it reported anything

    requested = await run_cluster.runs.request_cancel("wf.p.1", "no longer needed")
    assert requested.status.cancelRequested and requested.status.phase == RunPhase.PENDING

    async def cancelled() -> PipelineRun | None:
        run = await run_of(run_cluster, "wf.p.1")
        return run if run.status.phase == RunPhase.CANCELLED else None

    run = await eventually(cancelled, within=LEASE_TTL + 8, what="the run to be cancelled")
    assert run.status.attempts[0].result == "Interrupted: agent late lost"
    assert run.status.agent is None
