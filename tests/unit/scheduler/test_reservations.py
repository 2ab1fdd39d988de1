"""Placements being written count as taken, exactly once, before and after their write lands."""

from __future__ import annotations

from tests.unit.apiserver.world import ServerWorld


async def agents_with_pipelines(world: ServerWorld, *agents: str, capacity: int = 1) -> None:
    for name in agents:
        await world.connect(name, capacity=capacity)
    await world.create_pipeline("p1")
    await world.create_pipeline("p2")
    await world.caught_up()


async def test_a_reserved_slot_is_not_given_twice(world: ServerWorld) -> None:
    await agents_with_pipelines(world, "a", "b")
    view = world.view

    first = view.choose({}, None)
    view.reserve("wf.p1", None, first.agent)
    second = view.choose({}, None)

    assert {first.agent, second.agent} == {"a", "b"}
    view.reserve("wf.p2", None, second.agent)
    assert view.choose({}, None).reason == "AgentsFull"


async def test_the_landed_write_replaces_the_reservation(world: ServerWorld) -> None:
    await agents_with_pipelines(world, "a", capacity=5)
    view = world.view
    view.reserve("wf.p1", None, "a")
    assert view.assigned_count("a") == 1

    await world.place("wf.p1", "a")  # the write, seen by the informer
    await world.caught_up()
    assert view.assigned_count("a") == 1
    view.release("wf.p1")  # the scheduler's own cleanup afterwards changes nothing
    assert view.assigned_count("a") == 1


async def test_a_failed_write_gives_the_slot_back(world: ServerWorld) -> None:
    await agents_with_pipelines(world, "a", "b")
    await world.place("wf.p1", "a")
    await world.caught_up()
    view = world.view
    view.reserve("wf.p1", "a", "b")  # moving p1 from a to b
    assert (view.assigned_count("a"), view.assigned_count("b")) == (0, 1)

    view.release("wf.p1")

    assert (view.assigned_count("a"), view.assigned_count("b")) == (1, 0)
    assert view.choose({}, "a").agent == "a"
