"""The scheduler on the in-memory store: placement from the cluster view, capacity, selectors,
re-placement when an agent's lease runs out, no write when nothing changes."""

from __future__ import annotations

from collections import Counter

from tests.unit.apiserver.world import LEASE_TTL, ServerWorld, eventually
from xene.api.pipeline import Pipeline, SchedulePhase


async def placement(world: ServerWorld, name: str) -> tuple[SchedulePhase, str | None, str | None]:
    status = (await world.store.get(Pipeline, name)).status
    return status.phase, status.agent, status.reason


async def test_a_pipeline_goes_to_a_ready_agent_its_selector_matches(world: ServerWorld) -> None:
    await world.connect("windows-1", os="windows")
    await world.connect("linux-1", os="linux")
    await world.create_pipeline("p", os="linux")
    await world.caught_up()

    await world.scheduler.reconcile("wf.p")

    assert await placement(world, "wf.p") == (SchedulePhase.SCHEDULED, "linux-1", None)


async def test_without_a_matching_agent_it_says_why(world: ServerWorld) -> None:
    await world.connect("windows-1", os="windows")
    await world.create_pipeline("p", os="linux")
    await world.caught_up()

    await world.scheduler.reconcile("wf.p")

    phase, agent, reason = await placement(world, "wf.p")
    assert (phase, agent, reason) == (SchedulePhase.NOT_SCHEDULED, None, "NoMatchingAgent")
    message = (await world.store.get(Pipeline, "wf.p")).status.message
    assert message == "no Ready agent matches agentSelector {os: linux}"


async def test_a_placement_that_still_fits_is_not_written_again(world: ServerWorld) -> None:
    await world.connect("a1")
    await world.create_pipeline("p")
    await world.caught_up()
    await world.scheduler.reconcile("wf.p")
    await world.caught_up()
    before = world.memory.kv.revision

    await world.scheduler.reconcile("wf.p")

    assert world.memory.kv.revision == before


async def test_run_whole_it_fills_agents_up_to_their_capacity(world: ServerWorld) -> None:
    await world.connect("a1", capacity=2)
    await world.connect("a2", capacity=3)
    for index in range(7):
        await world.create_pipeline(f"p{index}")
    world.run_controllers(world.scheduler)

    async def placed() -> Counter[str | None]:
        items, _ = await world.store.list(Pipeline)
        return Counter(p.status.agent for p in items)

    await eventually(
        lambda: _equals(placed(), Counter({"a1": 2, "a2": 3, None: 2})), what="placements"
    )
    items, _ = await world.store.list(Pipeline)
    unplaced = [p for p in items if p.status.agent is None]
    assert {p.status.reason for p in unplaced} == {"AgentsFull"}


async def test_when_an_agents_lease_runs_out_its_pipelines_move(world: ServerWorld) -> None:
    leaving = await world.connect("leaving")
    staying = await world.connect("staying")
    await world.create_pipeline("p")
    await world.place("wf.p", "leaving")
    world.run_controllers(world.scheduler, world.agent_status)
    await world.caught_up()

    for _ in range(3):  # only one of the two keeps heartbeating
        await world.pass_time(LEASE_TTL / 2)
        assert await staying.heartbeat()
    assert leaving.ended.is_set()

    async def moved() -> bool:
        return (await placement(world, "wf.p"))[1] == "staying"

    await eventually(moved, what="wf.p to move to the agent still alive")


async def _equals(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]
