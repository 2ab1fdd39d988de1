"""The informer on the in-memory store: list then watch, resume, relist after compaction,
handlers in order, writers' own changes, indexes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.fixtures.memory_store import MemoryWorld, settle
from xene.api.agent import Agent, AgentSpec
from xene.api.meta import ObjectMeta
from xene.backoff import Backoff
from xene.store.informer import Change, Informer
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers

QUICK = Backoff(0.001, 0.001, jitter=0.0)


def agent(name: str, capacity: int = 1, **labels: str) -> Agent:
    return Agent(metadata=ObjectMeta(name=name, labels=labels), spec=AgentSpec(capacity=capacity))


async def set_capacity(store: ObjectStore, name: str, capacity: int) -> Agent:
    def change(obj: Agent) -> Agent:
        obj.spec.capacity = capacity
        return obj

    return await store.mutate(Agent, name, change)


class Running:
    """An informer of agents running in a task, and every change its handler heard."""

    def __init__(self, store: ObjectStore) -> None:
        self.informer: Informer[Agent] = Informer(store.list_watch(Agent), backoff=QUICK)
        self.heard: list[tuple[str, str, int | None]] = []

    def hear(self, change: Change[Agent]) -> None:
        new = change.new.spec.capacity if change.new is not None else None
        self.heard.append((change.type, change.key, new))

    def capacities(self) -> dict[str, int]:
        return {a.metadata.name: a.spec.capacity for a in self.informer.values()}


@pytest.fixture
async def running(memory_store: ObjectStore) -> AsyncIterator[Running]:
    state = Running(memory_store)
    with state.informer.listening(state.hear):
        task = asyncio.create_task(state.informer.run())
        try:
            yield state
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_it_lists_then_follows_every_change_in_order(
    memory_store: ObjectStore, running: Running
) -> None:
    await memory_store.create(agent("before", 1))
    await running.informer.wait_until(lambda cache: "before" in cache)
    assert running.capacities() == {"before": 1}
    await set_capacity(memory_store, "before", 2)
    await memory_store.create(agent("new", 5))
    await memory_store.delete(Agent, "before")
    await settle()
    assert running.heard == [
        ("ADDED", "before", 1),
        ("MODIFIED", "before", 2),
        ("ADDED", "new", 5),
        ("DELETED", "before", None),
    ]
    assert running.capacities() == {"new": 5}
    _, revision = await memory_store.list(Agent)
    assert running.informer.revision == revision


async def test_a_broken_watch_resumes_where_it_was_without_loss_or_repeats(
    memory_world: MemoryWorld, running: Running
) -> None:
    store = memory_world.store
    await store.create(agent("a", 1))
    await running.informer.wait_synced()
    await settle()
    memory_world.kv.break_watches()
    await set_capacity(store, "a", 2)  # while the watch is down
    await store.create(agent("b", 3))
    await running.informer.wait_until(lambda cache: "b" in cache)
    assert running.heard == [("ADDED", "a", 1), ("MODIFIED", "a", 2), ("ADDED", "b", 3)]


async def test_after_compaction_it_lists_again_and_tells_what_changed_meanwhile(
    memory_world: MemoryWorld, running: Running
) -> None:
    store = memory_world.store
    await store.create(agent("kept", 1))
    await store.create(agent("changed", 1))
    await store.create(agent("deleted", 1))
    await running.informer.wait_synced()
    await settle()
    running.heard.clear()

    memory_world.kv.break_watches()
    await set_capacity(store, "changed", 9)
    await store.delete(Agent, "deleted")
    await store.create(agent("added", 4))
    await memory_world.kv.compact(memory_world.kv.revision)
    await running.informer.wait_until(lambda cache: "added" in cache)

    assert sorted(running.heard) == [
        ("ADDED", "added", 4),
        ("DELETED", "deleted", None),
        ("MODIFIED", "changed", 9),
    ]
    assert running.capacities() == {"added": 4, "changed": 9, "kept": 1}


async def test_a_writer_sees_its_own_write_at_once_and_hears_it_once(
    memory_store: ObjectStore, running: Running
) -> None:
    await running.informer.wait_synced()
    created = await memory_store.create(agent("a", 1))
    revision = int(created.metadata.resourceVersion or 0)
    running.informer.observe("a", created, revision)
    assert running.capacities() == {"a": 1}
    await settle()  # the watch brings the same write: nothing new
    assert running.heard == [("ADDED", "a", 1)]
    assert running.informer.item_revision("a") == revision

    stale = created.model_copy(deep=True)
    stale.spec.capacity = 99
    running.informer.observe("a", stale, revision - 1)  # older than what the cache has
    assert running.capacities() == {"a": 1}


async def test_an_observed_deletion_is_not_undone_by_older_events(
    memory_store: ObjectStore, running: Running
) -> None:
    await memory_store.create(agent("a", 1))
    await running.informer.wait_until(lambda cache: "a" in cache)
    # Written and deleted by this process before its informer ran again: the watch still
    # holds both events when the deletion is observed.
    await set_capacity(memory_store, "a", 2)
    await memory_store.delete(Agent, "a")
    _, deleted_at = await memory_store.list(Agent)
    running.informer.observe("a", None, deleted_at)
    assert "a" not in running.informer
    await settle()
    assert "a" not in running.informer
    assert running.heard == [("ADDED", "a", 1), ("DELETED", "a", None)]


async def test_indexes_follow_changes(memory_store: ObjectStore, running: Running) -> None:
    running.informer.add_index("zone", lambda a: [a.metadata.labels.get("zone", "")])
    await memory_store.create(agent("a", zone="x"))
    await memory_store.create(agent("b", zone="x"))
    await running.informer.wait_until(lambda cache: len(cache) == 2)
    assert [a.metadata.name for a in running.informer.indexed("zone", "x")] == ["a", "b"]

    def move(obj: Agent) -> Agent:
        obj.metadata.labels["zone"] = "y"
        return obj

    await memory_store.mutate(Agent, "a", move)
    await memory_store.delete(Agent, "b")
    await settle()
    assert running.informer.indexed("zone", "x") == []
    assert [a.metadata.name for a in running.informer.indexed("zone", "y")] == ["a"]


async def test_a_late_listener_can_hear_the_cache_first(
    memory_store: ObjectStore, running: Running
) -> None:
    await memory_store.create(agent("a"))
    await memory_store.create(agent("b"))
    await running.informer.wait_until(lambda cache: len(cache) == 2)
    replayed: list[str] = []
    with running.informer.listening(lambda c: replayed.append(f"{c.type} {c.key}"), replay=True):
        await memory_store.delete(Agent, "a")
        await settle()
    await memory_store.delete(Agent, "b")
    await settle()
    assert replayed == ["ADDED a", "ADDED b", "DELETED a"]


async def test_a_failing_handler_does_not_stop_the_others(
    memory_store: ObjectStore, running: Running
) -> None:
    def broken(change: Change[Agent]) -> None:
        raise RuntimeError("handler bug")

    with running.informer.listening(broken):
        await memory_store.create(agent("a"))
        await running.informer.wait_until(lambda cache: "a" in cache)
    assert running.heard == [("ADDED", "a", 1)]


async def test_shared_informers_hand_out_one_informer_per_family_and_run_late_ones(
    memory_store: ObjectStore,
) -> None:
    shared = SharedInformers(memory_store)
    agents = shared.kind(Agent)
    assert shared.kind(Agent) is agents
    task = asyncio.create_task(shared.run())
    try:
        await memory_store.create(agent("a"))
        await agents.wait_until(lambda cache: "a" in cache)
        liveness = shared.liveness()  # asked for while running: started at once
        lease = await memory_store.liveness.grant(10)
        await memory_store.liveness.put("a", "s1", "replica", lease)
        await asyncio.wait_for(liveness.wait_until(lambda cache: "a" in cache), 5)
        await shared.wait_synced()
        entry = liveness.get("a")
        assert entry is not None and entry.session == "s1"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
