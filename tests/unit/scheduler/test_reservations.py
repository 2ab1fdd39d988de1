"""Placements being written count as taken, exactly once, before and after their write lands."""

from __future__ import annotations

from typing import Any

from xene.api.pipeline import SchedulePhase
from xene.apiserver.services.cluster_view import AgentEntry, ClusterView, PipelineEntry
from xene.store.liveness import AliveEntry


def entry(name: str, agent: str | None = None, revision: int = 1) -> PipelineEntry:
    phase = SchedulePhase.SCHEDULED if agent else SchedulePhase.NOT_SCHEDULED
    return PipelineEntry(name, f"uid-{name}", 1, revision, {}, phase, agent)


def view_with_agents(*names: str, capacity: int = 1) -> ClusterView:
    store: Any = None  # the in-memory part of the view needs no store
    view = ClusterView(store)
    for revision, name in enumerate(names, start=1):
        view._set_agent(name, AgentEntry(name, {}, capacity, revision), revision)
        view._set_alive(name, AliveEntry(name, "s", "server", revision), revision)
    return view


def test_a_reserved_slot_is_not_given_twice() -> None:
    view = view_with_agents("a", "b")
    view._set_pipeline("p1", entry("p1"), 10)
    view._set_pipeline("p2", entry("p2"), 11)

    first = view.choose({}, None)
    view.reserve("p1", None, first.agent)
    second = view.choose({}, None)

    assert {first.agent, second.agent} == {"a", "b"}
    view.reserve("p2", None, second.agent)
    assert view.choose({}, None).reason == "AgentsFull"


def test_the_landed_write_replaces_the_reservation() -> None:
    view = view_with_agents("a", capacity=5)
    view._set_pipeline("p1", entry("p1"), 10)
    view.reserve("p1", None, "a")
    assert view.assigned_count("a") == 1

    view._set_pipeline("p1", entry("p1", "a", revision=12), 12)  # the write, seen by the watch
    assert view.assigned_count("a") == 1
    view.release("p1")  # the scheduler's own cleanup afterwards changes nothing
    assert view.assigned_count("a") == 1


def test_a_failed_write_gives_the_slot_back() -> None:
    view = view_with_agents("a", "b", capacity=1)
    view._set_pipeline("p1", entry("p1", "a"), 10)
    view.reserve("p1", "a", "b")  # moving p1 from a to b
    assert (view.assigned_count("a"), view.assigned_count("b")) == (0, 1)

    view.release("p1")

    assert (view.assigned_count("a"), view.assigned_count("b")) == (1, 0)
    assert view.choose({}, "a").agent == "a"
