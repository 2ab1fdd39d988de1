"""Cordoning and deleting agents on the in-memory store: a cordon outlives reconnects and keeps
new pipelines off the agent while what it has stays; only an agent that is gone is deleted, with
its undelivered commands, in one transaction that also holds against a reconnect."""

from __future__ import annotations

import pytest

from tests.unit.apiserver.world import LEASE_TTL, ServerWorld
from xene.api.agent import Agent
from xene.api.errors import Conflict, NotFound
from xene.api.pipeline import Pipeline, SchedulePhase
from xene.store.liveness import AliveEntry


async def placement(world: ServerWorld, name: str) -> tuple[SchedulePhase, str | None, str | None]:
    status = (await world.store.get(Pipeline, name)).status
    return status.phase, status.agent, status.reason


async def test_cordon_and_uncordon_write_only_a_change(world: ServerWorld) -> None:
    await world.connect("a1")
    cordoned = await world.agent_admin.set_unschedulable("a1", True)
    assert cordoned.spec.unschedulable is True
    before = world.memory.kv.revision
    again = await world.agent_admin.set_unschedulable("a1", True)
    assert again.metadata.resourceVersion == cordoned.metadata.resourceVersion
    assert world.memory.kv.revision == before
    assert (await world.agent_admin.set_unschedulable("a1", False)).spec.unschedulable is False
    with pytest.raises(NotFound):
        await world.agent_admin.set_unschedulable("nobody", True)


async def test_a_cordon_outlives_the_agents_reconnect(world: ServerWorld) -> None:
    await world.connect("a1", capacity=2)
    await world.agent_admin.set_unschedulable("a1", True)
    await world.connect("a1", capacity=4)  # a new session re-registers the agent
    agent = await world.agent("a1")
    assert agent.spec.unschedulable is True and agent.spec.capacity == 4


async def test_a_cordoned_agent_keeps_its_pipelines_and_takes_no_new_ones(
    world: ServerWorld,
) -> None:
    await world.connect("a1")
    await world.create_pipeline("old")
    await world.caught_up()
    await world.scheduler.reconcile("wf.old")
    await world.agent_admin.set_unschedulable("a1", True)
    await world.create_pipeline("new")
    await world.caught_up()

    await world.scheduler.reconcile("wf.old")
    await world.scheduler.reconcile("wf.new")

    assert await placement(world, "wf.old") == (SchedulePhase.SCHEDULED, "a1", None)
    assert await placement(world, "wf.new") == (
        SchedulePhase.NOT_SCHEDULED,
        None,
        "AgentsCordoned",
    )
    message = (await world.store.get(Pipeline, "wf.new")).status.message
    assert message == (
        "every Ready agent is cordoned (SchedulingDisabled): "
        "uncordon one with `xenectl uncordon AGENT`"
    )

    await world.connect("a2")
    await world.scheduler.reconcile("wf.new")
    assert await placement(world, "wf.new") == (SchedulePhase.SCHEDULED, "a2", None)
    await world.agent_admin.set_unschedulable("a1", False)
    await world.create_pipeline("third")
    await world.caught_up()
    await world.scheduler.reconcile("wf.third")
    assert (await placement(world, "wf.third"))[1] == "a1"  # fewest pipelines again


async def test_a_connected_agent_is_not_deleted(world: ServerWorld) -> None:
    await world.connect("a1")
    await world.agents.send_command("a1", "CancelRun", "wf.p.1")
    before = world.memory.kv.revision

    with pytest.raises(Conflict, match=r"agent a1 is Ready .* run `xenectl cordon a1`"):
        await world.agent_admin.delete("a1")

    assert world.memory.kv.revision == before
    assert len(await world.store.commands.list("a1")) == 1


async def test_an_agent_that_is_gone_is_deleted_with_its_undelivered_commands(
    world: ServerWorld,
) -> None:
    await world.connect("a1")
    await world.connect("a10")
    await world.agents.send_command("a1", "CancelRun", "wf.p.1")
    await world.agents.send_command("a10", "CancelRun", "wf.q.1")
    await world.pass_time(LEASE_TTL * 2)  # neither heartbeats: their leases run out
    assert await world.store.liveness.get("a1") is None

    deleted = await world.agent_admin.delete("a1")

    assert deleted.metadata.name == "a1"
    with pytest.raises(NotFound):
        await world.agent("a1")
    assert await world.store.commands.list("a1") == []
    assert len(await world.store.commands.list("a10")) == 1  # another agent's stay
    with pytest.raises(NotFound):
        await world.agent_admin.delete("a1")


async def test_an_agent_that_reconnects_while_it_is_deleted_is_kept(
    world: ServerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.connect("a1")
    await world.agents.send_command("a1", "CancelRun", "wf.p.1")
    await world.pass_time(LEASE_TTL * 2)
    await world.connect("a1")

    # The liveness read misses the agent's return (it came back just after): the delete's
    # own transaction still sees the liveness key and refuses.
    async def missed(agent: str) -> AliveEntry | None:
        return None

    monkeypatch.setattr(world.store.liveness, "get", missed)
    with pytest.raises(Conflict, match="agent a1 is Ready"):
        await world.agent_admin.delete("a1")

    assert isinstance(await world.agent("a1"), Agent)
    assert len(await world.store.commands.list("a1")) == 1
