"""Agent sessions and the agent controller on the in-memory store: registration, liveness
leases on a hand-moved clock, assignments, commands, and the status the controller keeps."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from tests.unit.apiserver.world import LEASE_TTL, ServerWorld, eventually
from xene.api.agent import Agent, AgentPhase
from xene.api.errors import AlreadyExists, Invalid, Stale, Unauthenticated, Unavailable
from xene.apiserver.controllers.agents import LEASE_EXPIRED_MESSAGE
from xene.apiserver.services.agents import AgentHello, AgentService
from xene.store.commands import AgentCommand


async def test_connecting_registers_the_agent_and_marks_it_alive(world: ServerWorld) -> None:
    session = await world.connect("a1", capacity=3, os="linux")
    agent = await world.agent("a1")
    assert agent.status.phase == AgentPhase.READY
    assert agent.spec.capacity == 3 and agent.metadata.labels == {"os": "linux"}
    assert agent.status.server == "replica-a"
    alive = await world.store.liveness.get("a1")
    assert alive is not None and alive.session == session.id and alive.lease == session.lease_id
    assert world.view.is_ready("a1")
    assert world.agents.heartbeat_interval_seconds == LEASE_TTL / 3


async def test_a_bad_registration_names_each_field_and_stores_nothing(world: ServerWorld) -> None:
    with pytest.raises(Invalid) as caught:
        await world.agents.connect(AgentHello(name="Bad Name", labels={}, capacity=0))
    assert {e.path for e in caught.value.errors} == {"hello.name", "hello.capacity"}
    assert (await world.store.list(Agent))[0] == []


async def test_heartbeats_keep_the_lease_and_silence_ends_it(world: ServerWorld) -> None:
    steady = await world.connect("steady")
    silent = await world.connect("silent")
    for _ in range(4):
        await world.pass_time(LEASE_TTL / 2)
        assert await steady.heartbeat()
    assert await world.store.liveness.get("steady") is not None
    assert await world.store.liveness.get("silent") is None
    assert silent.ended.is_set() and isinstance(silent.end_reason, Unavailable)
    assert not await silent.heartbeat()
    assert not steady.ended.is_set()


async def test_a_newer_session_of_the_same_agent_ends_the_older(world: ServerWorld) -> None:
    first = await world.connect("a1")
    second = await world.connect("a1")
    assert first.ended.is_set() and isinstance(first.end_reason, AlreadyExists)
    assert not second.ended.is_set()
    await first.close(goodbye=True)  # the superseded stream's goodbye must not end the new one
    assert await world.store.liveness.get("a1") is not None


async def test_goodbye_ends_liveness_at_once_and_says_so(world: ServerWorld) -> None:
    session = await world.connect("polite")
    await session.close(goodbye=True)
    assert await world.store.liveness.get("polite") is None
    agent = await world.agent("polite")
    assert agent.status.phase == AgentPhase.NOT_READY
    assert agent.status.message == "the agent stopped (it said goodbye)"


async def test_tokens_are_checked_per_agent(world: ServerWorld) -> None:
    service = AgentService(
        world.store, world.view, identity="r", token="shared", tokens={"special": "own"}
    )
    service.authenticate("shared", "anyone")
    service.authenticate("own", "special")
    for token, agent in ((None, "anyone"), ("wrong", "anyone"), ("shared", "special")):
        with pytest.raises(Unauthenticated):
            service.authenticate(token, agent)


async def test_assignments_follow_placements(world: ServerWorld) -> None:
    session = await world.connect("a1")
    await world.create_pipeline("p")
    await world.create_pipeline("q")
    sets = session.assignments()
    assert await anext(sets) == []

    await world.place("wf.p", "a1")
    assigned = await asyncio.wait_for(anext(sets), 5)
    assert [a.name for a in assigned] == ["wf.p"]
    assert json.loads(assigned[0].pipeline_json)["metadata"]["name"] == "wf.p"

    await world.place("wf.q", "a1")
    await world.place("wf.p", "elsewhere")
    assigned = await asyncio.wait_for(anext(sets), 5)
    assert [a.name for a in assigned] == ["wf.q"]
    await sets.aclose()


async def test_commands_stored_while_away_come_first_then_live_ones_once(
    world: ServerWorld,
) -> None:
    early = await world.agents.send_command("worker", "StartRun", "wf.p.1", {"attempt": 1})
    session = await world.connect("worker")
    commands = session.commands()
    received: list[AgentCommand] = [await asyncio.wait_for(anext(commands), 5)]
    live = await world.agents.send_command("worker", "CancelRun", "wf.p.1", {"reason": "user"})
    received.append(await asyncio.wait_for(anext(commands), 5))
    assert [c.id for c in received] == [early.id, live.id]

    for command in received:
        await session.acknowledge(command.id)
    assert await world.store.commands.list("worker") == []
    with pytest.raises(Invalid):
        await session.acknowledge("a/b")
    nothing_more = asyncio.ensure_future(anext(commands))
    await asyncio.sleep(0.05)
    assert not nothing_more.done(), "a command was delivered twice"
    nothing_more.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await nothing_more


async def test_the_controller_marks_an_agent_not_ready_when_its_lease_is_gone(
    world: ServerWorld,
) -> None:
    await world.connect("gone")
    await world.create_pipeline("p")
    await world.place("wf.p", "gone")
    await world.pass_time(LEASE_TTL + 1)  # no heartbeat

    await world.agent_status.reconcile("gone")

    agent = await world.agent("gone")
    assert agent.status.phase == AgentPhase.NOT_READY
    assert agent.status.message == LEASE_EXPIRED_MESSAGE
    assert agent.status.pipelines == ["wf.p"]


async def test_the_controller_writes_nothing_when_the_status_is_true(world: ServerWorld) -> None:
    await world.connect("a1")
    await world.agent_status.reconcile("a1")
    await world.caught_up()
    before = world.memory.kv.revision
    await world.agent_status.reconcile("a1")
    assert world.memory.kv.revision == before


async def test_a_lagging_cache_cannot_mark_a_reconnected_agent_not_ready(
    world: ServerWorld,
) -> None:
    await world.connect("flaky")
    await world.pass_time(LEASE_TTL + 1)
    assert world.view.alive("flaky") is None
    # Back before this replica's cache heard of it: the key exists, the cache says gone.
    lease = await world.store.liveness.grant(LEASE_TTL)
    await world.store.liveness.put("flaky", "new-session", "replica-b", lease)

    with pytest.raises(Stale):
        await world.agent_status.reconcile("flaky")
    assert (await world.agent("flaky")).status.phase == AgentPhase.READY

    await world.caught_up()
    await world.agent_status.reconcile("flaky")
    assert (await world.agent("flaky")).status.phase == AgentPhase.READY


async def test_run_whole_the_controller_follows_liveness_both_ways(world: ServerWorld) -> None:
    world.run_controllers(world.agent_status)
    await world.connect("a1")
    await world.pass_time(LEASE_TTL + 1)

    async def phase() -> AgentPhase | None:
        return (await world.agent("a1")).status.phase

    await eventually(lambda: _equals(phase(), AgentPhase.NOT_READY), what="NotReady")
    await world.connect("a1")
    await eventually(lambda: _equals(phase(), AgentPhase.READY), what="Ready again")


async def _equals(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]
